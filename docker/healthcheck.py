"""The container's HEALTHCHECK: exit 0 when the hub in this container answers GET /healthz.

Slim Python images have no curl, so this uses the standard library alone. It asks the address
the hub listens on (SETHUB_HOST; loopback when that is every address) at SETHUB_PORT, ignores
any proxy settings in the environment (the hub is local), and prints one line when unhealthy.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping

DEFAULT_PORT = "8080"
TIMEOUT_SECONDS = 4.0


def healthz_url(environ: Mapping[str, str]) -> str:
    """The /healthz URL of the hub configured by `environ`'s SETHUB_HOST and SETHUB_PORT."""
    host = environ.get("SETHUB_HOST", "").strip("[]")
    port = environ.get("SETHUB_PORT", DEFAULT_PORT)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if not host or host == "*" or (address is not None and address.is_unspecified):
        host = "::1" if address is not None and address.version == 6 else "127.0.0.1"
    elif address is None:
        return f"http://{host}:{port}/healthz"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/healthz"


def main() -> int:
    url = healthz_url(os.environ)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=TIMEOUT_SECONDS) as response:
            response.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
