"""Make the SQLite files in this folder with the sethub that wrote them: not a test, a record of
how they were made (run once; the files are committed).

For each commit below, its `hub/` is exported with `git archive` into a temporary folder and this
script runs against it in a child process: `open_store` of that version, then the same data
through that version's own repository methods (a topic, a token, two subscriptions, one with a
hub.secret, a pending verification, two published events, one delivery claimed by a process that
then died). The first three versions used aiosqlite, which `--old-packages` must provide.

    python tests/store/old_databases/make.py --old-packages /tmp/aiosqlite-target
"""

from __future__ import annotations

import argparse
import inspect
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]

# commit -> what its schema looked like
VERSIONS = {
    "371661d": "schema 1 as first written (no host key, audience, event types, idempotency)",
    "a945b3f": "schema 1 grown: host key, audience, event types, kinds, idempotency keys",
    "8afa932": "schema 1 final (failing and disabled), secrets stored as given",
    "0ce6b2d": "schema 2, secrets in their stored form",
    "48e57ec": "schema 3 (a jti per delivery)",
    "656de46": "schema 4 (every request kept; tokens with audiences; ids still reusable)",
}
NOW = 1_800_000_000.0
TOPIC = "http://127.0.0.1:9/topics/news"


def _call(method, **values):  # type: ignore[no-untyped-def]
    """Call with the keyword arguments this version's method takes."""
    accepted = inspect.signature(method).parameters
    return method(**{k: v for k, v in values.items() if k in accepted})


async def fill(path: Path) -> None:
    from hub.store import open_store  # the old version's, from PYTHONPATH

    store = await open_store(path)
    try:
        await _call(store.topics.put, name="news", content_type="text/plain", content=b"hello",
                    now=NOW)
        await _call(store.tokens.add, digest="d" * 64, scope="publish", label="old", now=NOW)
        await _call(store.subscriptions.activate, topic=TOPIC, callback="http://127.0.0.1:9/a",
                    secret=b"old-secret", lease_seconds=864000, now=NOW)
        await _call(store.subscriptions.activate, topic=TOPIC, callback="http://127.0.0.1:9/b",
                    secret=None, lease_seconds=864000, now=NOW)
        await _call(store.intents.add, mode="subscribe", topic=TOPIC,
                    callback="http://127.0.0.1:9/c", secret=b"intent-secret", lease_seconds=600,
                    now=NOW, callback_host="127.0.0.1")
        for body in (b"first", b"second"):
            await _call(store.deliveries.publish, topic=TOPIC, content_type="text/plain",
                        body=body, now=NOW)
        await _call(store.deliveries.claim_due, owner="dead-node", now=NOW, ttl=3600, limit=1,
                    per_subscription=1)
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--old-packages", required=True, help="a folder with aiosqlite in it")
    parser.add_argument("--fill", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.fill:
        import asyncio

        asyncio.run(fill(args.fill))
        return
    for commit in VERSIONS:
        target = HERE / f"sethub-{commit}.db"
        target.unlink(missing_ok=True)
        with tempfile.TemporaryDirectory() as tree:
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "hub"],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([tree, args.old_packages])}
            subprocess.run([sys.executable, __file__, "--old-packages", args.old_packages,
                            "--fill", str(target)], env=env, cwd=tree, check=True)
        for side in ("-wal", "-shm"):
            Path(f"{target}{side}").unlink(missing_ok=True)
        print(f"{target.name}: {VERSIONS[commit]}")


if __name__ == "__main__":
    main()
