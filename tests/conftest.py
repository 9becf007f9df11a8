"""Fixtures every test folder may use: the stores' two backends, with a real PostgreSQL, and
`sethub` commands run in this process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.database_url import DatabaseLocation, PostgresURL

from .hub.cli_runner import AsyncSethub, Sethub, in_process_sethub, in_thread_sethub
from .postgres import PostgresForTests, ServerMissing, required, server_url

BACKENDS = ("sqlite", "postgres")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresForTests]:
    """The run's PostgreSQL database, created at the first test that needs it."""
    try:
        run = PostgresForTests.create()
    except ServerMissing as exc:
        if required():
            pytest.fail(f"CI=true and PostgreSQL is required: {exc}")
        pytest.skip(f"PostgreSQL tests skipped: no server at {server_url()} (SETHUB_TEST_POSTGRES)")
    yield run
    run.drop()


@pytest.fixture
async def postgres_url(postgres: PostgresForTests) -> PostgresURL:
    """A fresh, empty schema of the run's database, for one test."""
    return await postgres.new_schema()


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> DatabaseLocation:
    """Where a test's database is, once per backend: a SQLite file, or a PostgreSQL schema."""
    if request.param == "sqlite":
        return tmp_path / "hub.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def sethub(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Sethub:
    """`sethub ARGS` run in this process, as the console script runs it (hub.cli.main), for tests
    about what a command does and prints: a process per command costs ~1 s of imports."""
    return in_process_sethub(monkeypatch, capsys)


@pytest.fixture
def sethub_async(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> AsyncSethub:
    """`await sethub_async(ARGS)`: the same, from an async test (see `in_thread_sethub`)."""
    return in_thread_sethub(monkeypatch, capsys)
