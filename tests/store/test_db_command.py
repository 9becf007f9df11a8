"""`sethub db status|migrate` on both backends, run as the console script runs it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hub.database_url import DatabaseLocation, PostgresURL
from hub.store.migrations import LATEST

from ..hub.cli_runner import Sethub, in_process_sethub, one_line_error

OLD = Path(__file__).resolve().parent / "old_databases"
EVERY = ", ".join(str(n) for n in range(1, LATEST + 1))


@pytest.fixture
def sethub(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Sethub:
    return in_process_sethub(monkeypatch, capsys)


def test_status_then_migrate_then_status(sethub: Sethub, database: DatabaseLocation) -> None:
    if isinstance(database, Path):
        database.touch()  # an empty file, as a database sethub has not used yet
    where = database.dsn if isinstance(database, PostgresURL) else str(database)
    before = sethub("db", "status", "--db", where)
    assert before.returncode == 0, before.stderr
    assert f"schema version 0 of {LATEST}; pending migrations: {EVERY}" in before.stdout
    done = sethub("db", "migrate", env={"SETHUB_DB": where})  # the same settings as serve
    assert (done.returncode, done.stdout.strip()) == (
        0, f"database {database}: applied migrations {EVERY}; now at {LATEST}"
    )
    again = sethub("db", "migrate", "--db", where)
    assert f"up to date at schema version {LATEST}" in again.stdout
    after = sethub("db", "status", "--db", where)
    assert f"schema version {LATEST} of {LATEST}; pending migrations: none" in after.stdout


def test_an_old_file_is_upgraded_by_migrate(sethub: Sethub, tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    shutil.copy(OLD / "sethub-48e57ec.db", db)
    status = sethub("db", "status", "--db", str(db))
    assert "schema version 3" in status.stdout and "pending migrations: 4, 5" in status.stdout
    done = sethub("db", "migrate", "--db", str(db))
    assert done.returncode == 0 and "applied migrations 4, 5" in done.stdout


def test_no_database_is_created_by_looking_at_it(sethub: Sethub, tmp_path: Path) -> None:
    one_line_error(sethub("db", "status", "--db", str(tmp_path / "typo.db")), 1, "no database at")
    assert not (tmp_path / "typo.db").exists()
    refused = sethub("db", "migrate", "--db", "postgresql://postgres:hunter2@127.0.0.1:1/nowhere")
    one_line_error(refused, 1, "cannot open database postgresql://postgres:***@127.0.0.1:1/")
    assert "hunter2" not in refused.stderr
