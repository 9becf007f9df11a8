"""Vendor bridges: identity providers' native webhooks in, catalog events out.

    POST /ingest/NAME ─► Ingestion ─► the source's bridge: authenticate (vendor signature),
                                      translate (vendor events -> catalog events + subject)
                                  ─► IdentityPublishing (the same store path as POST /events)

One module per vendor (logto, loginradius, cidaas, asgardeo); `common` holds what they share.
"""

from __future__ import annotations

from set_tokens import Catalog

from .asgardeo import AsgardeoBridge
from .cidaas import CidaasBridge
from .common import Bridge
from .loginradius import LoginRadiusBridge
from .logto import LogtoBridge

__all__ = ["VENDORS", "Bridge", "bridges"]

VENDORS = ("logto", "loginradius", "cidaas", "asgardeo")


def bridges(catalog: Catalog) -> dict[str, Bridge]:
    """One bridge per vendor, reading vendor names through `catalog`."""
    made: list[Bridge] = [
        LogtoBridge(catalog),
        LoginRadiusBridge(catalog),
        CidaasBridge(catalog),
        AsgardeoBridge(catalog),
    ]
    return {bridge.vendor: bridge for bridge in made}
