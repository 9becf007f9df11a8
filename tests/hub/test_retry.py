"""Retry timing: pure functions, no clock."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.delivery.retry import next_retry_delay, parse_retry_after

SCHEDULE = [10.0, 60.0, 600.0]


def test_schedule_then_budget_spent() -> None:
    delays = [next_retry_delay(n, SCHEDULE, jitter=0.0, retry_after_max=100) for n in (1, 2, 3)]
    assert delays == [10.0, 60.0, 600.0]
    assert next_retry_delay(4, SCHEDULE, jitter=0.0, retry_after_max=100) is None
    assert next_retry_delay(1, [], jitter=0.0, retry_after_max=100) is None


def test_jitter_spreads_both_ways() -> None:
    low = next_retry_delay(1, SCHEDULE, jitter=0.2, retry_after_max=0, rand=lambda: 0.0)
    high = next_retry_delay(1, SCHEDULE, jitter=0.2, retry_after_max=0, rand=lambda: 1.0)
    assert low == 8.0 and high == 12.0


def test_retry_after_extends_but_never_shortens_and_is_capped() -> None:
    kwargs = {"jitter": 0.0, "retry_after_max": 300.0}
    assert next_retry_delay(1, SCHEDULE, retry_after=120, **kwargs) == 120
    assert next_retry_delay(1, SCHEDULE, retry_after=1, **kwargs) == 10
    assert next_retry_delay(1, SCHEDULE, retry_after=99999, **kwargs) == 300


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("120", now=0) == 120
    assert parse_retry_after(None, now=0) is None
    assert parse_retry_after("soon", now=0) is None
    when = parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412400.0)
    assert when == 80.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412500.0) == 0.0


def test_retry_after_delta_seconds_are_ascii_digits_only() -> None:
    """Code review issue 4: str.isdigit() took "²", and float("²") then raised ValueError."""
    for value in ("²", "¹²", "٣", "1²", "+5", "-5", "1.5", "1e3"):
        assert parse_retry_after(value, now=0) is None
    assert parse_retry_after(" 7 ", now=0) == 7


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), st.text(alphabet="0123456789\xb2\xb9\u0663 ", max_size=6)))
def test_parse_retry_after_never_raises(value: str) -> None:
    """Whatever a subscriber sends in Retry-After: a delay of zero or more, or None."""
    delay = parse_retry_after(value, now=1_700_000_000.0)
    assert delay is None or delay >= 0
