"""`GET /.well-known/jwks.json`: every key a receiver may meet in a SET from this hub."""

from __future__ import annotations

from aiohttp import web

from ...appkeys import SIGNER

__all__ = ["routes"]

routes = web.RouteTableDef()
JWKS_MAX_AGE_SECONDS = 300  # receivers refetch sooner on an unknown kid anyway


@routes.get("/.well-known/jwks.json")
async def jwks(request: web.Request) -> web.Response:
    return web.json_response(
        request.app[SIGNER].jwks(),
        content_type="application/jwk-set+json",
        headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE_SECONDS}"},
    )
