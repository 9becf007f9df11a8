"""The one way out of the hub: a small HTTP/1.1 client behind the destination address policy."""

from .addresses import DestinationPolicy, RefusedDestination, resolve_and_check
from .client import OutboundClient, OutboundResponse
from .pool import OutboundError

__all__ = [
    "DestinationPolicy",
    "OutboundClient",
    "OutboundError",
    "OutboundResponse",
    "RefusedDestination",
    "resolve_and_check",
]
