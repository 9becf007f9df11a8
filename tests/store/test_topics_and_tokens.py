"""Topics and tokens, on both backends."""

from __future__ import annotations

from hub.store import Revocation, Store, Token


async def test_a_topic_is_created_replaced_and_listed_in_byte_order(store: Store) -> None:
    assert await store.topics.get("news") is None
    await store.topics.put(name="news", content_type="text/plain", content=b"one", now=10.0)
    await store.topics.put(name="news", content_type="text/html", content=b"\x00two", now=20.0)
    await store.topics.put(name="Zebra", content_type="text/plain", content=b"z", now=30.0)
    await store.topics.put(name="alpha", content_type="text/plain", content=b"a", now=30.0)
    topic = await store.topics.get("news")
    assert topic is not None
    assert (topic.content_type, topic.content, topic.updated_at) == ("text/html", b"\x00two", 20.0)
    # SQLite compares bytes; PostgreSQL is asked to ("C"), not its locale's dictionary order
    assert await store.topics.names() == ["Zebra", "alpha", "news"]


async def test_tokens_are_found_by_digest_listed_and_revoked(store: Store) -> None:
    first = await store.tokens.add(digest="d1", scope="publish", label="ci", now=1.0)
    second = await store.tokens.add(
        digest="d2", scope="subscribe", label=None, now=2.0, audiences=("https://a", "https://b")
    )
    assert second > first
    found = await store.tokens.find("d2")
    assert found is not None
    digest, token = found
    assert digest == "d2"
    assert token == Token(id=second, scope="subscribe", label=None, created_at=2.0,
                          audiences=("https://a", "https://b"))
    assert await store.tokens.find("nope") is None
    assert [t.id for t in await store.tokens.listing()] == [first, second]

    assert await store.tokens.revoke(second, now=5.0) is Revocation.REVOKED
    assert await store.tokens.find("d2") is None  # forgotten at once, not after the cache time
    assert await store.tokens.revoke(second, now=6.0) is Revocation.ALREADY
    assert await store.tokens.revoke(999, now=6.0) is Revocation.UNKNOWN
    revoked = await store.tokens.get(second)
    assert revoked is not None and revoked.revoked_at == 5.0 and revoked.revoked
    assert (await store.tokens.get(first)).audiences == ()  # type: ignore[union-attr]
    assert await store.tokens.get(999) is None
