"""aiohttp's own log records of a client's malformed request: one INFO line, no traceback.

aiohttp answers malformed HTTP itself, before any handler (400: a request line over 8 KB, a
header it cannot parse), and drains a body the handler left unread; a body that cannot be
decoded as sent (`Content-Encoding: gzip` over plain text) fails there again. Both times it logs
the client's error at ERROR with a traceback, so any client could fill the hub's log with them.
`quiet_client_errors` turns such records into one INFO line naming the error class only: their
messages quote request bytes, which may carry a token.
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web import RequestPayloadError

__all__ = ["ClientErrorRecords", "quiet_client_errors"]

SERVER_LOGGER = "aiohttp.server"
CLIENT_ERRORS = (HttpProcessingError, RequestPayloadError)


class ClientErrorRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, CLIENT_ERRORS):
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            record.msg = "a client sent a malformed request (%s); answered 400"
            record.args = (type(error).__name__,)
            record.exc_info = None
            record.exc_text = None
        return True


_FILTER = ClientErrorRecords()


def quiet_client_errors() -> None:
    """Install the filter on aiohttp's server logger (once, however often it is called)."""
    logging.getLogger(SERVER_LOGGER).addFilter(_FILTER)
