"""External topic URLs taken apart, so that `--allow-topic` compares what is really fetched.

A prefix was a plain string once, and `http://ALLOWED:1@OTHER/`, `http://ALLOWED.attacker.tld/`
and `/feeds/../elsewhere` all started with one (security review M6). Now a topic URL and a
prefix are compared as parsed parts:
- scheme, host and port exactly (a missing port is the scheme's default; `:*` in a prefix
  means any port);
- the path on a `/` boundary (`/feeds` admits `/feeds` and `/feeds/x`, not `/feedsx`), after
  percent-encoding normalisation and the removal of dot segments (RFC 3986 §6.2.2, §5.2.4), so
  `%2e%2e` is `..`;
- a topic may not carry user information, and a segment that some servers would still read as a
  dot segment (`..%2f`, `..;x`, `..\\`) is refused rather than guessed at.
The hub fetches the normalised URL (`str(TopicURL)`), so what was compared is what is fetched.

Pure: the settings check prefixes with it when they load, intake checks topics with it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

__all__ = ["TopicPrefix", "TopicURL", "TopicURLError", "parse_prefix", "parse_topic_url"]

DEFAULT_PORTS = {"http": 80, "https": 443}
ANY_PORT = "*"

# RFC 3986 appendix B, for absolute URLs only.
_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<path>[^?#]*)"
    r"(?:\?(?P<query>[^#]*))?(?P<fragment>#.*)?",
    re.DOTALL,
)
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?", re.ASCII)
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# What some servers take for "/" inside a segment: an encoded slash or backslash, a backslash.
_HIDDEN_SEPARATOR = re.compile(r"%2[Ff]|%5[Cc]|\\")


class TopicURLError(ValueError):
    """Why a topic URL or an `--allow-topic` prefix cannot be used; a plain message."""


@dataclass(frozen=True)
class TopicURL:
    """An absolute http(s) topic URL, normalised; `str()` is the URL the hub fetches."""

    scheme: str
    host: str  # lower case; an IPv6 literal in brackets
    port: int
    path: str  # starts with "/", no dot segments
    query: str | None

    def __str__(self) -> str:
        port = "" if self.port == DEFAULT_PORTS[self.scheme] else f":{self.port}"
        query = "" if self.query is None else f"?{self.query}"
        return f"{self.scheme}://{self.host}{port}{self.path}{query}"


@dataclass(frozen=True)
class TopicPrefix:
    """One `--allow-topic` value: the topics under one scheme, host, port and path."""

    scheme: str
    host: str
    port: int | None  # None: any port (`http://host:*`)
    path: str  # starts with "/"

    def admits(self, topic: TopicURL) -> bool:
        if (topic.scheme, topic.host) != (self.scheme, self.host):
            return False
        if self.port is not None and topic.port != self.port:
            return False
        if self.path.endswith("/"):
            return topic.path.startswith(self.path)
        return topic.path == self.path or topic.path.startswith(self.path + "/")


def parse_topic_url(url: str) -> TopicURL:
    """The normalised parts of a topic URL, or TopicURLError saying what is wrong with it."""
    scheme, host, port, path, query = _split(url, what="topic URL")
    if port in (None, ""):  # RFC 3986 §6.2.3: an empty port is the default one
        return TopicURL(scheme, host, DEFAULT_PORTS[scheme], path, query)
    return TopicURL(scheme, host, _port_number(port, url), path, query)


def parse_prefix(text: str) -> TopicPrefix:
    """An `--allow-topic` value: an http(s) URL without user information, query, fragment or
    dot segments, whose port may be `*` (any port)."""
    if any(segment in (".", "..") for segment in _plain_path(text).split("/")):
        raise TopicURLError(f"{text!r}: a prefix must not contain '.' or '..' segments")
    scheme, host, port, path, query = _split(text, what="--allow-topic prefix")
    if query is not None:
        raise TopicURLError(f"{text!r}: a prefix ends with its path (no '?')")
    if port == "":  # `http://127.0.0.1:` meant "any port" while prefixes were strings
        raise TopicURLError(
            f"{text!r} has an empty port: write ':{ANY_PORT}' to allow any port, or leave out "
            "the ':' for the default port"
        )
    if port is None:
        return TopicPrefix(scheme, host, DEFAULT_PORTS[scheme], path)
    return TopicPrefix(scheme, host, None if port == ANY_PORT else _port_number(port, text), path)


def _split(url: str, *, what: str) -> tuple[str, str, str | None, str, str | None]:
    """Scheme, host, port as written (None without a ':'), normalised path and raw query."""
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        raise TopicURLError(f"{url!r}: a {what} contains whitespace or control characters")
    match = _URL.fullmatch(url)
    if match is None or match["scheme"].lower() not in DEFAULT_PORTS:
        raise TopicURLError(f"{url!r} is not an absolute http(s) URL")
    if match["fragment"] is not None:
        raise TopicURLError(f"{url!r}: a {what} must not contain a fragment")
    authority = match["authority"]
    if "@" in authority:
        raise TopicURLError(f"{url!r}: a {what} must not contain user information")
    if authority.startswith("["):
        literal, bracket, after = authority[1:].partition("]")
        host = _ipv6_host(literal) if bracket else None
    else:
        name, colon, port = authority.partition(":")
        host, after = _name_host(name), colon + port
    if host is None:
        raise TopicURLError(
            f"{url!r}: the host must be a DNS name (in ASCII: punycode) or an IP address"
        )
    if after and not after.startswith(":"):
        raise TopicURLError(f"{url!r}: only a port may follow the host")
    path = _normalise_path(match["path"] or "/", url)
    return match["scheme"].lower(), host, after[1:] if after else None, path, match["query"]


def _ipv6_host(literal: str) -> str | None:
    """`[canonical]`, or None. A zone (`%eth0`) names an interface of this machine: refused."""
    try:
        return f"[{ipaddress.IPv6Address(literal).compressed}]" if "%" not in literal else None
    except ValueError:
        return None


def _name_host(name: str) -> str | None:
    """A DNS name in lower case, or a dotted IPv4 address; None for anything else."""
    name = name.lower()
    if not name.isascii() or not _HOST_NAME.fullmatch(name):
        return None
    try:
        return str(ipaddress.IPv4Address(name))
    except ValueError:
        return name


def _port_number(port: str, url: str) -> int:
    if not (port.isascii() and port.isdigit() and 0 < int(port) <= 65535):
        raise TopicURLError(f"{url!r}: the port must be a number from 1 to 65535")
    return int(port)


def _plain_path(url: str) -> str:
    """The path of `url` with unreserved escapes decoded (so `%2e` is `.`), not normalised."""
    match = _URL.fullmatch(url)
    return _ESCAPE.sub(_decoded_if_unreserved, (match["path"] if match else "") or "/")


def _normalise_path(path: str, url: str) -> str:
    """Unreserved characters decoded and other escapes in upper case (so `%2e` is `.`), then
    dot segments removed. A segment that would still hide one from a server is refused."""
    segments = _ESCAPE.sub(_decoded_if_unreserved, path).split("/")[1:]  # path starts with "/"
    kept: list[str] = []
    for index, segment in enumerate(segments):
        if segment in (".", ".."):
            if segment == ".." and kept:
                kept.pop()
            if index == len(segments) - 1:
                kept.append("")  # "/a/b/.." is "/a/"
            continue
        if any(part.split(";", 1)[0] in (".", "..") for part in _HIDDEN_SEPARATOR.split(segment)):
            raise TopicURLError(f"{url!r}: the path hides a '.' or '..' segment")
        kept.append(segment)
    return "/" + "/".join(kept)


def _decoded_if_unreserved(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else match.group(0).upper()
