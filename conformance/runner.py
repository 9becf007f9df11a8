"""Checks, their context and results: the machinery under every conformance check."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from .harness import Callback, Harness, Topic, eventually

__all__ = [
    "CHECKS",
    "Check",
    "CheckFailed",
    "Context",
    "Result",
    "Skipped",
    "check",
    "run_checks",
]


class CheckFailed(Exception):
    """The hub did something the spec forbids, or did not do what it requires."""


class Skipped(Exception):
    """The check cannot judge this hub (the message says why)."""


@dataclass
class Context:
    hub: str
    harness: Harness
    session: aiohttp.ClientSession
    token: str | None = None  # sent with publish requests (pings, identity events)
    subscriber_token: str | None = None  # sent with subscribe and unsubscribe requests
    timeout: float = 10.0  # how long to wait for something the hub should do soon
    settle: float = 0.5  # grace after a verification before relying on the new state
    patience: float = 30.0  # longest wait for slow behaviour (lease expiry, retry budgets)
    events_url: str | None = None  # the hub's identity publisher API (sethub's POST /events)
    set_topic: str | None = None  # an identity topic whose events the suite publishes
    issuer: str | None = None  # the iss the hub's SETs must carry
    jwks_url: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def _headers(token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def post_hub(self, form: Any) -> tuple[int, str, str]:
        """POST a form to the hub: (status, body text, Content-Type). A publish carries the
        publisher token, anything else the subscriber token (each only if given)."""
        publishing = isinstance(form, dict) and form.get("hub.mode") == "publish"
        token = self.token if publishing else self.subscriber_token
        async with self.session.post(self.hub, data=form, headers=self._headers(token)) as response:
            return response.status, await response.text(), response.headers.get("Content-Type", "")

    async def subscribe(
        self, topic: Topic | str, callback: Callback, **extra: str
    ) -> tuple[int, str]:
        url = topic.url if isinstance(topic, Topic) else topic
        form = {"hub.mode": "subscribe", "hub.topic": url, "hub.callback": callback.url, **extra}
        status, text, _ = await self.post_hub(form)
        return status, text

    async def unsubscribe(self, topic: Topic | str, callback: Callback) -> tuple[int, str]:
        url = topic.url if isinstance(topic, Topic) else topic
        form = {"hub.mode": "unsubscribe", "hub.topic": url, "hub.callback": callback.url}
        status, text, _ = await self.post_hub(form)
        return status, text

    async def publish(self, topic: Topic) -> None:
        status, text, _ = await self.post_hub({"hub.mode": "publish", "hub.topic": topic.url})
        if not 200 <= status < 300:
            raise Skipped(f"the hub refused the publish ping ({status} {text.strip()[:80]})")

    async def publish_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Publish one identity event with the hub's publisher API; skip if it has none."""
        if not self.events_url:
            raise Skipped("hub does not publish identity events")
        async with self.session.post(
            self.events_url, json=event, headers=self._headers(self.token)
        ) as r:
            if r.status == 404:
                raise Skipped("hub does not publish identity events (no publisher API)")
            if r.status != 202:
                raise Skipped(
                    f"the hub refused the identity event: {r.status} "
                    f"{(await r.text()).strip()[:100]}"
                )
            return await r.json()

    async def wait_verified(
        self, callback: Callback, mode: str = "subscribe", count: int = 1
    ) -> None:
        seen = await eventually(lambda: callback.modes().count(mode) >= count, timeout=self.timeout)
        if not seen:
            raise CheckFailed(f"no {mode} verification request reached the callback")
        await asyncio.sleep(self.settle)

    async def subscribed(self, topic: Topic, callback: Callback, **extra: str) -> None:
        status, text = await self.subscribe(topic, callback, **extra)
        if status != 202:
            raise CheckFailed(f"subscription answered {status}, not 202: {text.strip()[:80]}")
        await self.wait_verified(callback)

    async def wait_deliveries(self, callback: Callback, count: int = 1) -> None:
        if not await eventually(lambda: len(callback.deliveries) >= count, timeout=self.timeout):
            got = len(callback.deliveries)
            raise CheckFailed(f"expected {count} deliveries within {self.timeout:g}s, got {got}")

    async def barrier(self, topic: Topic) -> None:
        """Publish once more and wait until a fresh control subscriber got it, so deliveries
        that would have been made to others by now have been made."""
        control = self.harness.callback()
        await self.subscribed(topic, control)
        await self.publish(topic)
        await self.wait_deliveries(control)
        await asyncio.sleep(self.settle)


Runner = Callable[[Context], Awaitable[None]]


@dataclass(frozen=True)
class Check:
    id: str
    ref: str
    title: str
    group: str
    run: Runner


@dataclass
class Result:
    id: str
    ref: str
    title: str
    group: str
    status: str  # "pass" | "fail" | "skip"
    reason: str = ""
    seconds: float = 0.0


CHECKS: list[Check] = []


def check(
    check_id: str, ref: str, title: str, *, group: str = "websub"
) -> Callable[[Runner], Runner]:
    def register(run: Runner) -> Runner:
        CHECKS.append(Check(check_id, ref, title, group, run))
        return run

    return register


async def _run_one(item: Check, context: Context, limit: asyncio.Semaphore) -> Result:
    async with limit:
        started = time.monotonic()
        status, reason = "pass", ""
        try:
            await asyncio.wait_for(item.run(context), timeout=context.patience * 3 + 30)
        except CheckFailed as exc:
            status, reason = "fail", str(exc)
        except Skipped as exc:
            status, reason = "skip", str(exc)
        except TimeoutError:
            status, reason = "fail", "the check did not finish in time"
        except aiohttp.ClientError as exc:
            status, reason = "fail", f"HTTP error talking to the hub: {exc}"
        except Exception as exc:  # a hub's garbage must fail its check, not stop the suite
            status, reason = "fail", f"{type(exc).__name__}: {exc}"
        return Result(
            item.id,
            item.ref,
            item.title,
            item.group,
            status,
            reason,
            round(time.monotonic() - started, 2),
        )


async def run_checks(
    checks: Sequence[Check], context: Context, *, concurrency: int = 8
) -> list[Result]:
    """WebSub checks run concurrently (each has its own topics); SET checks share the hub's
    identity topic, so they run one at a time and each publishes with a txn of its own."""
    limits = {"websub": asyncio.Semaphore(concurrency), "set": asyncio.Semaphore(1)}
    return list(await asyncio.gather(*(_run_one(c, context, limits[c.group]) for c in checks)))


def render_table(results: Sequence[Result]) -> str:
    rows = [("check", "spec", "result", "reason")]
    rows += [(r.id, r.ref, r.status.upper(), r.reason) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for n, row in enumerate(rows):
        lines.append(
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths) + "  ------")
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "skip")}
    lines.append(f"\n{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped")
    return "\n".join(lines)


def write_report(path: Path, hub: str, results: Sequence[Result]) -> None:
    document = {"hub": hub, "results": [asdict(r) for r in results]}
    path.write_text(json.dumps(document, indent=2) + "\n")
