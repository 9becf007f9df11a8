"""Operator endpoints: health and Prometheus metrics.

Both answer in constant time, however many deliveries are stored: load balancers probe /healthz
every few seconds, and a query runs on the store's one thread, where every publish waits behind
it. /healthz asks no query at all, so it never waits behind a long write either; /metrics reads
the per-state counts the schema's triggers keep.
"""

from __future__ import annotations

from aiohttp import web

from ...appkeys import CLOCK, DISPATCHER, METRICS, STORE

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """200 while the store takes writes; 503 with the reason while its writes fail (a full disk,
    `--db-max-bytes` reached, a lock held elsewhere), until a write succeeds again."""
    health = request.app[STORE].health
    if health.failure is not None:
        return web.json_response({"status": "unavailable", "reason": health.failure}, status=503)
    return web.json_response({"status": "ok"})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    app = request.app
    store, registry = app[STORE], app[METRICS]
    for state, count in (await store.deliveries.counts()).items():
        registry.queue_depth.labels(state=state).set(count)
    registry.subscriptions.set(await store.subscriptions.count_active(now=app[CLOCK]()))
    registry.inflight.set(app[DISPATCHER].inflight)
    registry.store_available.set(1 if store.health.ok else 0)
    return web.Response(
        body=registry.render(), headers={"Content-Type": "text/plain; version=0.0.4"}
    )
