from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hub.database_url import DatabaseLocation, PostgresURL

from ..postgres import PostgresForTests
from .support import (
    RunningHub,
    ScriptedSubscriber,
    Subscriber,
    start_hub,
    start_scripted_subscriber,
    start_subscriber,
    stop_hub,
)


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    running = await start_hub(tmp_path)
    yield running
    await stop_hub(running)


@pytest.fixture
async def make_hub(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Start a hub with custom settings (several may run in one test, each with its own db)."""
    started: list[RunningHub] = []

    async def make(**overrides: Any) -> RunningHub:
        directory = tmp_path / f"hub{len(started)}"
        directory.mkdir()
        running = await start_hub(directory, **overrides)
        started.append(running)
        return running

    yield make
    for running in started:
        await stop_hub(running)


@pytest.fixture
async def make_hub_each(
    request: pytest.FixtureRequest, database: DatabaseLocation, tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    """`make_hub` once per store backend (the test runs on SQLite, then on PostgreSQL): for the
    end-to-end paths that the store carries, subscribe, publish, deliver, retry, dead-letter."""
    started: list[RunningHub] = []

    async def make(**overrides: Any) -> RunningHub:
        directory = tmp_path / f"hub{len(started)}"
        directory.mkdir()
        where: DatabaseLocation = directory / "hub.db"
        if isinstance(database, PostgresURL):
            postgres: PostgresForTests = request.getfixturevalue("postgres")
            where = database if not started else await postgres.new_schema()
        running = await start_hub(directory, db=where, **overrides)
        started.append(running)
        return running

    yield make
    for running in started:
        await stop_hub(running)


@pytest.fixture
async def subscriber() -> AsyncIterator[Subscriber]:
    sub = await start_subscriber()
    yield sub
    assert sub.server is not None
    await sub.server.close()


@pytest.fixture
async def make_subscriber() -> AsyncIterator[Callable[..., Any]]:
    started: list[Subscriber] = []

    async def make(**kwargs: Any) -> Subscriber:
        sub = await start_subscriber(**kwargs)
        started.append(sub)
        return sub

    yield make
    for sub in started:
        assert sub.server is not None
        await sub.server.close()


@pytest.fixture
async def make_scripted() -> AsyncIterator[Callable[..., Any]]:
    """Raw-socket subscribers (see `ScriptedSubscriber`), closed after the test."""
    started: list[ScriptedSubscriber] = []

    async def make(answer: bytes | None, delay: float = 0.0) -> ScriptedSubscriber:
        sub = await start_scripted_subscriber(answer, delay)
        started.append(sub)
        return sub

    yield make
    for sub in started:
        await sub.close()
