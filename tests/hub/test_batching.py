"""The batching primitive under the group commits and the signing batches: every caller gets an
answer, whatever happens to the batch, and one bad item fails alone (code review 2.4, security
review M1 and H2)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from hub.batching import Batcher
from hub.store import NewEvent, PublishRequest, open_store

from .process import query

TOPIC = "https://hub.example/topics/news"


async def test_a_bad_publish_request_fails_alone_in_a_group_commit(tmp_path: Path) -> None:
    """A request whose idempotency key SQLite cannot store (a lone surrogate, as aiohttp's
    surrogateescape makes of non-UTF-8 header bytes) shares the group commit with good ones:
    the batch is retried item by item, and only the bad request fails."""
    store = await open_store(tmp_path / "hub.db")
    try:
        publishes = Batcher(store.deliveries.publish_requests)
        now = time.time()

        def request(body: bytes, key: str | None = None) -> PublishRequest:
            event = NewEvent(topic=TOPIC, content_type="text/plain", body=body)
            return PublishRequest((event,), now, idempotency_key=key, idempotency_window=60)

        answers = await asyncio.gather(
            publishes.submit(request(b"one")),
            publishes.submit(request(b"bad", key="\udcff")),
            publishes.submit(request(b"two", key="fine")),
            return_exceptions=True,
        )
        assert isinstance(answers[1], UnicodeEncodeError)
        assert [type(a) for a in answers] == [tuple, UnicodeEncodeError, tuple]
        bodies = query(tmp_path / "hub.db", "SELECT body FROM events ORDER BY id")
        assert [row[0] for row in bodies] == [b"one", b"two"]
        await publishes.close()
    finally:
        await store.close()


async def test_a_wrong_number_of_results_answers_every_caller() -> None:
    async def short(items: list[int]) -> list[int]:
        return items[:1]

    batcher: Batcher[int, int] = Batcher(short)
    futures = [batcher.enqueue(n) for n in range(3)]
    done, pending = await asyncio.wait(futures, timeout=1)
    assert not pending
    for future in done:
        with pytest.raises(RuntimeError, match="results"):
            future.result()
    await batcher.close()


async def test_close_waits_for_queued_batches_and_cancels_what_outlives_its_timeout() -> None:
    release = asyncio.Event()
    calls: list[list[int]] = []

    async def call(items: list[int]) -> list[int]:
        calls.append(items)
        await release.wait()
        return [n * 2 for n in items]

    batcher: Batcher[int, int] = Batcher(call)
    first = batcher.enqueue(1)
    await asyncio.sleep(0)  # the first batch leaves; the next items queue behind it
    queued = [batcher.enqueue(n) for n in (2, 3)]
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, release.set)
    await batcher.close(timeout=5)
    assert [f.result() for f in (first, *queued)] == [2, 4, 6]
    assert calls == [[1], [2, 3]]
    with pytest.raises(RuntimeError, match="closed"):
        batcher.enqueue(4)

    stuck: Batcher[int, int] = Batcher(lambda items: asyncio.Event().wait())  # type: ignore[arg-type,return-value]
    waiting = [stuck.enqueue(n) for n in range(2)]
    await stuck.close(timeout=0.05)
    assert all(f.cancelled() for f in waiting)  # answered, not left hanging
