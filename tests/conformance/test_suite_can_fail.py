"""The conformance suite judges hubs: it passes a correct one and fails exactly the broken rules."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from conformance import set_checks, websub_checks  # noqa: F401 (registers the checks)
from conformance.harness import Harness
from conformance.runner import CHECKS, Context, Result, run_checks

from ..hub.support import free_port
from .minihub import MiniHub

# The checks that inspect a notification's Link headers.
NOTIFICATION_CHECKS = {
    "rocks-100", "rocks-101", "rocks-102", "rocks-105", "rocks-106", "resubscribe-new-secret",
    "link-headers",
}


async def run_suite(hub_url: str) -> dict[str, Result]:
    harness = Harness(hub_url)
    await harness.start()
    try:
        async with aiohttp.ClientSession() as session:
            base = hub_url.removesuffix("/hub")
            context = Context(hub=hub_url, harness=harness, session=session, timeout=5,
                              settle=0.3, patience=8, events_url=f"{base}/events",
                              set_topic=f"{base}/topics/session", issuer=base,
                              jwks_url=f"{base}/.well-known/jwks.json")
            results = await run_checks(CHECKS, context, concurrency=16)
    finally:
        await harness.close()
    return {r.id: r for r in results}


@pytest.fixture
async def minihub() -> AsyncIterator[Callable[..., Any]]:
    servers: list[TestServer] = []

    async def start(*defects: str) -> str:
        port = free_port()
        hub = MiniHub(hub_url=f"http://127.0.0.1:{port}/hub", defects=frozenset(defects))
        server = TestServer(hub.app(), host="127.0.0.1", port=port)
        await server.start_server()
        servers.append(server)
        return hub.hub_url

    yield start
    for server in servers:
        await server.close()


def failures(results: dict[str, Result]) -> set[str]:
    return {check_id for check_id, r in results.items() if r.status == "fail"}


async def test_a_correct_hub_passes_everything(minihub: Callable[..., Any]) -> None:
    results = await run_suite(await minihub())
    assert failures(results) == set(), {k: r.reason for k, r in results.items()}
    assert not [r for r in results.values() if r.status == "skip"]


@pytest.mark.parametrize(
    ("defect", "expected"),
    [
        ("no_self_link", NOTIFICATION_CHECKS),
        ("wrong_secret", {"rocks-101", "resubscribe-new-secret"}),
        ("deliver_after_unsubscribe", {"rocks-104"}),
        ("never_expire", {"lease-expiry"}),
        ("set_exp", {"set-claims"}),
    ],
)
async def test_each_defect_fails_exactly_its_checks(
    minihub: Callable[..., Any], defect: str, expected: set[str]
) -> None:
    results = await run_suite(await minihub(defect))
    assert failures(results) == expected, {k: r.reason for k, r in results.items()
                                           if r.status != "pass"}
