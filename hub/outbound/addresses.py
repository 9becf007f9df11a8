"""Which addresses the hub may connect to, checked on resolved addresses, never on names.

The pool's resolver (`OutboundClient`) applies the policy at connect time, so a DNS answer that
changes between subscribe and delivery cannot smuggle a forbidden address in; the subscribe-time
check (`resolve_and_check`) only refuses early what would be refused then.

"Public" means globally routable: `is_global`, minus every block of the IANA special-purpose
registries (Python's own tables differ between patch releases, so the blocks are listed here),
and for the IPv6 forms that carry an IPv4 address (IPv4-mapped, NAT64, 6to4) the IPv4 address
inside must be public too: `2002:a9fe:a9fe::` is the cloud metadata service seen through 6to4.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from dataclasses import dataclass, field

from yarl import URL

from .pool import AddrInfo, OutboundError

__all__ = [
    "DestinationPolicy",
    "IPAddress",
    "IPNetwork",
    "RefusedDestination",
    "address_of",
    "embedded_ipv4",
    "is_public",
    "resolve",
    "resolve_and_check",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# IANA IPv4 Special-Purpose Address Registry, every entry (also the few marked globally reachable,
# such as AS112 or the PCP and TURN anycast addresses: no subscriber lives there), and multicast.
SPECIAL_IPV4 = _networks(
    "0.0.0.0/8",  # "this network"
    "10.0.0.0/8",  # private
    "100.64.0.0/10",  # shared address space (carrier-grade NAT; Alibaba's metadata service)
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local (cloud metadata services)
    "172.16.0.0/12",  # private
    "192.0.0.0/24",  # IETF protocol assignments (DS-Lite, NAT64 discovery, PCP, TURN)
    "192.0.2.0/24",  # documentation (TEST-NET-1)
    "192.31.196.0/24",  # AS112-v4
    "192.52.193.0/24",  # AMT
    "192.88.99.0/24",  # deprecated 6to4 relay anycast
    "192.168.0.0/16",  # private
    "192.175.48.0/24",  # AS112 direct delegation
    "198.18.0.0/15",  # benchmarking
    "198.51.100.0/24",  # documentation (TEST-NET-2)
    "203.0.113.0/24",  # documentation (TEST-NET-3)
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, and 255.255.255.255 (limited broadcast)
)

# IPv6 outside 2000::/3 (global unicast) is refused as a whole: loopback, unspecified,
# IPv4-compatible (::/96), discard-only, ULA, link-local, site-local fec0::/10, multicast, SRv6
# SIDs. These are the special-purpose blocks inside 2000::/3, all refused.
IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
SPECIAL_IPV6 = _networks(
    "2001::/23",  # IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID, AMT, ...
    "2001:db8::/32",  # documentation
    "2620:4f:8000::/48",  # AS112-v6
    "3fff::/20",  # documentation
)
# IPv6 forms that carry an IPv4 address the packets end up at.
IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052; 64:ff9b:1::/48 is local-use
SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")


class RefusedDestination(OutboundError):
    def __init__(self, message: str) -> None:
        super().__init__("refused", message)


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped, NAT64 (well-known prefix) or 6to4 address leads to.

    Teredo (2001::/32) carries one too, obfuscated, but the whole of 2001::/23 is refused, so its
    client address needs no decoding here.
    """
    if address in IPV4_MAPPED:
        return address.ipv4_mapped
    if address in NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    if address in SIX_TO_FOUR:
        return address.sixtofour
    return None


def is_public(address: IPAddress) -> bool:
    """True if `address` is globally routable, and so is any IPv4 address it carries."""
    if isinstance(address, ipaddress.IPv4Address):
        return address.is_global and not any(address in block for block in SPECIAL_IPV4)
    inner = embedded_ipv4(address)
    if inner is not None:
        return is_public(inner)
    return (
        address in IPV6_GLOBAL_UNICAST
        and not any(address in block for block in SPECIAL_IPV6)
        and address.is_global
    )


def _plain(address: IPAddress) -> IPAddress:
    """An IPv4-mapped address is the IPv4 address a dual-stack socket connects to."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class DestinationPolicy:
    """Which addresses the hub may connect to. Safe default: public addresses only.

    The operator may open more: `allow_private` everything, `allowed_networks` those networks
    (an IPv4-mapped address counts as itself and as its IPv4 address there).
    """

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = field(default_factory=tuple)

    def permits(self, address: IPAddress) -> bool:
        if self.allow_private or is_public(address):
            return True
        plain = _plain(address)
        return any(address in net or plain in net for net in self.allowed_networks)

    def check_address(self, host: str, address: IPAddress) -> None:
        if not self.permits(address):
            raise RefusedDestination(f"{host} resolves to {address}, which this hub does not call")


def address_of(info: AddrInfo) -> IPAddress:
    """The address of one `getaddrinfo` entry, for the policy to judge."""
    return ipaddress.ip_address(info[4][0])


async def resolve(host: str, port: int) -> list[AddrInfo]:
    """The TCP addresses of `host`, as `getaddrinfo` gives them (a literal is not looked up)."""
    literal = _literal_address(host, port)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise OutboundError("dns", f"cannot resolve {host}: {exc}") from exc
    return list(dict.fromkeys(infos))


async def resolve_and_check(url: str, policy: DestinationPolicy) -> None:
    """Subscribe-time check of a URL's host: every address it resolves to must be allowed.
    Deliveries are checked again at connect time."""
    host = URL(url).raw_host or ""
    for info in await resolve(host, 0):
        policy.check_address(host, address_of(info))


@functools.lru_cache(maxsize=4096)
def _literal_address(host: str, port: int) -> AddrInfo | None:
    """The address a host names literally, if it does (parsed once per host: it was 4% of the
    event loop's time at full fan-out)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv4Address):
        return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (str(address), port))
    if address.scope_id is not None:
        return None  # a zone (fe80::1%eth0): getaddrinfo turns its name into an index
    return (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (str(address), port, 0, 0))
