"""URLs as log lines may show them.

A callback URL is chosen by the subscriber and may carry a capability token in its query (or a
password in its userinfo); logs are read by more people than the database. So a log line names a
callback by scheme, host, port and path only, and marks that a query was cut off.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["loggable_url"]

QUERY_CUT = "?..."


def loggable_url(url: str) -> str:
    """`url` without userinfo, query and fragment (`?...` says there was a query)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(a URL that does not parse)"
    host = parts.netloc.rpartition("@")[2]
    shown = urlunsplit((parts.scheme, host, parts.path, "", ""))
    return shown + QUERY_CUT if parts.query else shown
