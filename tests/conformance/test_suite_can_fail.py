"""The conformance suite judges hubs: it passes a correct one and fails exactly the broken rules."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from conformance import set_checks, websub_checks  # noqa: F401 (registers the checks)
from conformance.harness import Harness
from conformance.runner import CHECKS, Context, Result, run_checks

from ..hub.support import free_port
from .minihub import MiniHub

# The checks that inspect a notification's Link headers.
NOTIFICATION_CHECKS = {
    "rocks-100",
    "rocks-101",
    "rocks-102",
    "rocks-105",
    "rocks-106",
    "resubscribe-new-secret",
    "link-headers",
}


async def run_suite(hub_url: str) -> dict[str, Result]:
    harness = Harness(hub_url)
    await harness.start()
    try:
        async with aiohttp.ClientSession() as session:
            base = hub_url.removesuffix("/hub")
            context = Context(
                hub=hub_url,
                harness=harness,
                session=session,
                timeout=5,
                settle=0.3,
                patience=8,
                events_url=f"{base}/events",
                set_topic=f"{base}/topics/session",
                issuer=base,
                jwks_url=f"{base}/.well-known/jwks.json",
            )
            results = await run_checks(CHECKS, context, concurrency=16)
    finally:
        await harness.close()
    return {r.id: r for r in results}


# Each defect of the mini hub, and the checks it must fail: those, and only those.
DEFECTS: dict[str, set[str]] = {
    "no_self_link": NOTIFICATION_CHECKS,
    "wrong_secret": {"rocks-101", "resubscribe-new-secret"},
    "deliver_after_unsubscribe": {"rocks-104"},
    "never_expire": {"lease-expiry"},
    "set_exp": {"set-claims"},
}
CORRECT = ""  # the mini hub without a defect


async def judge(defect: str) -> dict[str, Result]:
    """Run the suite against a mini hub with `defect` (or none), on a loopback port of its own."""
    port = free_port()
    defects = frozenset([defect] if defect else [])
    hub = MiniHub(hub_url=f"http://127.0.0.1:{port}/hub", defects=defects)
    server = TestServer(hub.app(), host="127.0.0.1", port=port)
    await server.start_server()
    try:
        return await run_suite(hub.hub_url)
    finally:
        await server.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def verdicts() -> dict[str, dict[str, Result]]:
    """The suite's results for the correct mini hub and for each defective one, all judged at
    once: a run lasts as long as its slowest check (lease expiry, ~4.5 s), whatever the hub, so
    six runs one after the other took six times that. Each hub and each suite run is its own
    (ports, harness, topics); the tests below read their own hub's results."""
    hubs = [CORRECT, *DEFECTS]
    results = await asyncio.gather(*(judge(defect) for defect in hubs))
    return dict(zip(hubs, results, strict=True))


def failures(results: dict[str, Result]) -> set[str]:
    return {check_id for check_id, r in results.items() if r.status == "fail"}


def test_a_correct_hub_passes_everything(verdicts: dict[str, dict[str, Result]]) -> None:
    results = verdicts[CORRECT]
    assert failures(results) == set(), {k: r.reason for k, r in results.items()}
    assert not [r for r in results.values() if r.status == "skip"]


@pytest.mark.parametrize(("defect", "expected"), list(DEFECTS.items()))
def test_each_defect_fails_exactly_its_checks(
    verdicts: dict[str, dict[str, Result]], defect: str, expected: set[str]
) -> None:
    results = verdicts[defect]
    assert failures(results) == expected, {
        k: r.reason for k, r in results.items() if r.status != "pass"
    }
