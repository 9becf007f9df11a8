"""Operator endpoints: liveness and Prometheus metrics."""

from __future__ import annotations

from aiohttp import web

from ...appkeys import CLOCK, DISPATCHER, METRICS, STORE

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    counts = await request.app[STORE].deliveries.counts()
    return web.json_response({"status": "ok", "pending_deliveries": counts["pending"]})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    app = request.app
    store, registry = app[STORE], app[METRICS]
    for state, count in (await store.deliveries.counts()).items():
        registry.queue_depth.labels(state=state).set(count)
    registry.subscriptions.set(await store.subscriptions.count_active(now=app[CLOCK]()))
    registry.inflight.set(app[DISPATCHER].inflight)
    return web.Response(
        body=registry.render(), headers={"Content-Type": "text/plain; version=0.0.4"}
    )
