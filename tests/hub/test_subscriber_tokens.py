"""Who may subscribe (security review H1, I5, I7; walkthrough finding 4): identity topics take a
subscriber token, the SETs' audience is one the token allows, a subscription belongs to the token
that made it, and tokens can be listed and revoked."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from hub.cli import main
from hub.intake.auth import create_token
from hub.store import Subscription

from .cli_runner import AsyncSethub
from .support import RunningHub, Subscriber, until
from .test_cli import new_database


async def _token(hub: RunningHub, scope: str, *audiences: str) -> str:
    return await create_token(
        hub.store, scope=scope, label=None, now=time.time(), audiences=audiences
    )


async def _subscription(hub: RunningHub, topic: str, callback: str) -> Subscription | None:
    return await hub.store.subscriptions.get(topic=topic, callback=callback)


async def _settled(hub: RunningHub) -> bool:
    return await hub.store.intents.count() == 0


async def test_identity_topics_refuse_at_once_without_a_subscriber_token(
    hub: RunningHub, subscriber: Subscriber
) -> None:
    """401 without or with an unknown token, 403 for a scope that does not cover the topic; the
    callback is never called (no intent is even stored)."""
    login = hub.topic_url("login")
    status, text = await hub.subscribe(login, subscriber.callback, token=None)
    assert (status, text) == (401, "a bearer token is required\n")
    form = {"hub.mode": "subscribe", "hub.topic": login, "hub.callback": subscriber.callback}
    status, text, response = await hub.post_form(
        form, headers={"Authorization": "Bearer sethub_not-a-token"}
    )
    assert status == 401 and "not valid" in text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.headers["Content-Type"].startswith("text/plain")
    for scope in ("publish", "publish:login", "subscribe:session"):
        status, text = await hub.subscribe(
            login, subscriber.callback, token=await _token(hub, scope)
        )
        assert status == 403, scope
        assert text == "the token's scope does not allow subscribe on topic login\n"
    status, _ = await hub.unsubscribe(login, subscriber.callback, token=None)
    assert status == 401
    assert await hub.store.intents.count() == 0
    assert subscriber.verifications == []

    status, _ = await hub.subscribe(
        login, subscriber.callback, token=await _token(hub, "subscribe:login")
    )
    assert status == 202
    await until(lambda: _subscription(hub, login, subscriber.callback))
    assert subscriber.modes() == ["subscribe"]


async def test_the_audience_is_one_the_token_allows(
    hub: RunningHub, make_subscriber: Callable[..., Any]
) -> None:
    """Without audiences a token allows only the callback's origin (without userinfo); with
    them, those too; an admin token any."""
    login = hub.topic_url("login")
    plain, listed, admin = [await make_subscriber() for _ in range(3)]
    origin = plain.callback.rsplit("/", 1)[0]
    status, text = await hub.subscribe(
        login, plain.callback, **{"sethub.audience": "https://rp.victim.example"}
    )
    assert status == 403 and "audience 'https://rp.victim.example'" in text
    rp_token = await _token(hub, "subscribe", "https://rp.example")
    status, _ = await hub.subscribe(
        login, listed.callback, token=rp_token, **{"sethub.audience": "https://other.example"}
    )
    assert status == 403
    assert await hub.store.intents.count() == 0 and not plain.verifications + listed.verifications

    with_userinfo = plain.callback.replace("http://", "http://user:pass@")
    assert (await hub.subscribe(login, with_userinfo))[0] == 202
    assert (
        await hub.subscribe(
            login, listed.callback, token=rp_token, **{"sethub.audience": "https://rp.example"}
        )
    )[0] == 202
    assert (
        await hub.subscribe(
            login,
            admin.callback,
            token=await _token(hub, "admin"),
            **{"sethub.audience": "https://anything.example"},
        )
    )[0] == 202
    await until(lambda: _settled(hub))
    audiences = [
        (await _subscription(hub, login, callback)).audience  # type: ignore[union-attr]
        for callback in (with_userinfo, listed.callback, admin.callback)
    ]
    assert audiences == [origin, "https://rp.example", "https://anything.example"]


async def test_content_topics_stay_open_unless_tokens_are_required(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    open_hub = await make_hub()
    strict = await make_hub(subscribe_auth="required")
    sub = await make_subscriber()
    for hub in (open_hub, strict):
        await hub.create_topic("news")
    news = open_hub.topic_url("news")
    assert (await open_hub.subscribe(news, sub.callback, token=None))[0] == 202
    news = strict.topic_url("news")
    assert (await strict.subscribe(news, sub.callback, token=None))[0] == 401
    wrong = await create_token(strict.store, scope="subscribe:other", label=None, now=time.time())
    assert (await strict.subscribe(news, sub.callback, token=wrong))[0] == 403
    assert await strict.store.intents.count() == 0
    right = await create_token(strict.store, scope="subscribe:news", label=None, now=time.time())
    assert (await strict.subscribe(news, sub.callback, token=right))[0] == 202
    await until(lambda: _subscription(strict, news, sub.callback))


async def test_a_subscription_belongs_to_the_token_that_made_it(
    hub: RunningHub, subscriber: Subscriber
) -> None:
    """Another token can neither replace nor end it, at request time or (when both requests were
    pending) at verification; once the owner is revoked, another token may take it over."""
    login = hub.topic_url("login")
    owner, other = await _token(hub, "subscribe:login"), await _token(hub, "subscribe")
    subscriber.verify_delay = 0.3
    assert (await hub.subscribe(login, subscriber.callback, token=owner))[0] == 202
    await until(lambda: subscriber.verifications)  # the owner's verification is in flight
    assert (await hub.subscribe(login, subscriber.callback, token=other))[0] == 202
    await until(lambda: _settled(hub))
    assert len(subscriber.verifications) == 1  # the other token's request was dropped unsent
    first = await _subscription(hub, login, subscriber.callback)
    assert first is not None
    subscriber.verify_delay = 0.0

    for request in (hub.subscribe, hub.unsubscribe):
        status, text = await request(login, subscriber.callback, token=other)
        assert (status, text) == (403, "this subscription belongs to another token\n")
    assert (await hub.subscribe(login, subscriber.callback, token=owner))[0] == 202  # renewal
    await until(lambda: _settled(hub))

    assert first.token_id is not None
    await hub.store.tokens.revoke(first.token_id, now=time.time())
    assert (await hub.subscribe(login, subscriber.callback, token=owner))[0] == 401
    assert (await hub.subscribe(login, subscriber.callback, token=other))[0] == 202
    await until(lambda: _settled(hub))
    taken = await _subscription(hub, login, subscriber.callback)
    assert taken is not None and taken.token_id not in (None, first.token_id)
    assert subscriber.modes() == ["subscribe"] * 3


async def test_revoking_from_the_cli_stops_a_running_hub_within_a_second(
    hub: RunningHub, subscriber: Subscriber, sethub_async: AsyncSethub
) -> None:
    login = hub.topic_url("login")
    token = await _token(hub, "subscribe:login")
    assert (await hub.subscribe(login, subscriber.callback, token=token))[0] == 202
    (listed,) = [t for t in await hub.store.tokens.listing() if t.scope == "subscribe:login"]
    done = await sethub_async("tokens", "revoke", str(listed.id), "--db", str(hub.settings.db))
    assert done.returncode == 0 and "revoked token" in done.stdout
    revoked_at = time.monotonic()

    async def refused() -> bool:
        return (await hub.subscribe(login, subscriber.callback, token=token))[0] == 401

    await until(refused, timeout=3)
    assert time.monotonic() - revoked_at < 1.5


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`sethub ARGS` in this process (the same code as the console script, without its start-up
    second per call)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_tokens_create_list_revoke_and_scope_hints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "hub.db")
    for scope in ("bogus", "publish:", "subscribe:Login", "publish:login extra"):
        code, _, err = _cli(capsys, "tokens", "create", "--db", db, "--scope", scope)
        assert code == 2, scope
        assert "subscribe:NAME" in err and "Traceback" not in err
    code, _, err = _cli(
        capsys,
        "tokens",
        "create",
        "--db",
        db,
        "--scope",
        "publish:http://127.0.0.1:8080/topics/login",
    )
    assert code == 2 and "did you mean publish:login?" in err
    assert not Path(db).exists()  # a refused scope creates nothing

    new_database(Path(db))  # the maintenance commands open the hub's database, never a new one
    code, out, err = _cli(
        capsys,
        "tokens",
        "create",
        "--db",
        db,
        "--scope",
        "subscribe:login",
        "--audience",
        "https://rp.example",
        "--audience",
        "https://b.example",
        "--label",
        "rp",
    )
    assert code == 0, err
    token = out.strip().splitlines()[-1]
    assert _cli(capsys, "tokens", "create", "--db", db)[0] == 0

    def listing() -> list[dict[str, Any]]:
        code, out, _ = _cli(capsys, "tokens", "list", "--db", db)
        assert code == 0 and token not in out and token[len("sethub_") :] not in out
        return [json.loads(line) for line in out.splitlines()]

    rows = listing()
    assert [(r["id"], r["scope"], r["audiences"], r["label"], r["revoked"]) for r in rows] == [
        (1, "subscribe:login", ["https://rp.example", "https://b.example"], "rp", None),
        (2, "publish", [], None, None),
    ]
    assert all(r["created"] for r in rows)

    code, out, _ = _cli(capsys, "tokens", "revoke", "1", "--db", db)
    assert code == 0 and "revoked token 1" in out
    assert [r["revoked"] is not None for r in listing()] == [True, False]
    code, out, _ = _cli(capsys, "tokens", "revoke", "1", "--db", db)
    assert code == 0 and "already revoked" in out
    code, _, err = _cli(capsys, "tokens", "revoke", "99", "--db", db)
    assert code == 1 and "no token has id 99" in err


@pytest.mark.parametrize("path", ["/hub", "/events"])
async def test_an_authorization_header_that_is_not_utf8_is_refused_with_401(
    hub: RunningHub, subscriber: Subscriber, path: str
) -> None:
    """Raw bytes, as a client may send them (security review L2): 401, never a 500."""
    form = {
        "hub.mode": "subscribe",
        "hub.topic": hub.topic_url("login"),
        "hub.callback": subscriber.callback,
    }
    body = urlencode(form).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.settings.port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
    )
    writer.write(head.encode() + b"Authorization: Bearer \xff\xfe\r\n\r\n" + body)
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    assert status_line.split()[1] == b"401"
