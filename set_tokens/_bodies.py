"""Reading a whole HTTP body, up to a cap.

aiohttp's `StreamReader.read(n)` returns what is buffered (at least one byte), not n bytes and
not the whole body: a SET or a JWKS that arrives in two TCP segments would be cut short. Every
body set_tokens reads goes through `read_body`, which reads to the end of the body.
"""

from __future__ import annotations

from aiohttp import StreamReader

__all__ = ["read_body"]


async def read_body(stream: StreamReader, limit: int) -> bytes | None:
    """The whole body, or None once it is longer than `limit` bytes (the rest is left unread)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
