"""The check in front of the Bolt app: Slack's signature, a fresh timestamp, and each
signed request taken once. Time is a fake clock; requests are signed by the stand-in's
own signer, an implementation independent of the one under test."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.slack.verify import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WINDOW_SECONDS,
    Refusal,
    RequestVerifier,
)
from sim.slack.signing import signature
from tests.fakes import FakeClock

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BODY = b"token=legacy&command=%2Fdeploy&text=status&response_url=https%3A%2F%2Fhooks.slack.com%2Fx"


def signed(body: bytes, *, at: float, secret: str = SECRET) -> dict[str, str]:
    timestamp = str(int(at))
    return {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp=timestamp, body=body),
    }


def verifier(clock: FakeClock, *, capacity: int = 100) -> RequestVerifier:
    return RequestVerifier(SECRET, clock=clock, capacity=capacity)


def test_a_fresh_signed_request_passes_once_and_its_copy_is_a_replay() -> None:
    clock = FakeClock()
    check = verifier(clock)
    headers = signed(BODY, at=clock.now().timestamp())

    assert check.check(BODY, headers) is None
    clock.advance(1.5)
    assert check.check(BODY, headers) is Refusal.REPLAY


def test_the_same_body_signed_at_another_second_is_a_new_request() -> None:
    clock = FakeClock()
    check = verifier(clock)
    now = clock.now().timestamp()

    assert check.check(BODY, signed(BODY, at=now)) is None
    assert check.check(BODY, signed(BODY, at=now - 1)) is None


def test_timestamps_are_unix_seconds_within_five_minutes_either_way() -> None:
    clock = FakeClock()
    check = verifier(clock)
    now = clock.now().timestamp()

    assert check.check(BODY, signed(BODY, at=now - WINDOW_SECONDS)) is None
    assert check.check(BODY, signed(BODY, at=now + WINDOW_SECONDS)) is None
    assert check.check(BODY, signed(BODY, at=now - WINDOW_SECONDS - 1)) is Refusal.STALE_TIMESTAMP
    assert check.check(BODY, signed(BODY, at=now + WINDOW_SECONDS + 1)) is Refusal.STALE_TIMESTAMP
    assert check.check(BODY, signed(BODY, at=1e11)) is Refusal.STALE_TIMESTAMP
    assert check.check(BODY, {}) is Refusal.MISSING_TIMESTAMP
    near = str(int(now))
    for timestamp in ["", "abc", "1e9", f"{now:.3f}", f"+{near}", f" {near}", "9" * 5000]:
        headers = {
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(SECRET, timestamp=timestamp, body=BODY),
        }
        assert check.check(BODY, headers) is Refusal.MALFORMED_TIMESTAMP, timestamp


def test_a_signature_must_be_this_apps_over_this_body() -> None:
    clock = FakeClock()
    check = verifier(clock)
    now = clock.now().timestamp()
    headers = signed(BODY, at=now)
    timestamp = headers[TIMESTAMP_HEADER]

    assert check.check(BODY, {TIMESTAMP_HEADER: timestamp}) is Refusal.MISSING_SIGNATURE
    assert check.check(BODY, {**headers, SIGNATURE_HEADER: ""}) is Refusal.MISSING_SIGNATURE
    assert check.check(BODY + b"&x=1", headers) is Refusal.BAD_SIGNATURE
    assert check.check(BODY, signed(BODY, at=now, secret="another")) is Refusal.BAD_SIGNATURE
    upper = {**headers, SIGNATURE_HEADER: headers[SIGNATURE_HEADER].upper()}
    assert check.check(BODY, upper) is Refusal.BAD_SIGNATURE
    assert check.check(BODY, {**headers, SIGNATURE_HEADER: "v0=é"}) is Refusal.BAD_SIGNATURE
    assert check.check(BODY, headers) is None  # none of the above was remembered


def test_a_body_that_is_not_utf8_is_verified_as_bytes() -> None:
    clock = FakeClock()
    body = b"payload=\xff\xfe"

    assert verifier(clock).check(body, signed(body, at=clock.now().timestamp())) is None


def test_signatures_are_forgotten_once_their_timestamp_is_stale() -> None:
    clock = FakeClock()
    check = verifier(clock)
    first = signed(BODY, at=clock.now().timestamp())
    assert check.check(BODY, first) is None

    clock.advance(WINDOW_SECONDS + 1)
    assert check.check(BODY, signed(BODY, at=clock.now().timestamp())) is None

    assert len(check.seen) == 1  # only the newer one
    assert check.check(BODY, first) is Refusal.STALE_TIMESTAMP


def test_memory_is_capped_by_dropping_what_expires_first() -> None:
    clock = FakeClock()
    check = verifier(clock, capacity=3)
    now = clock.now().timestamp()
    requests = [signed(BODY, at=now - age) for age in (10, 40, 20, 30)]

    assert [check.check(BODY, r) for r in requests] == [None] * 4

    assert len(check.seen) == 3
    assert requests[1][SIGNATURE_HEADER] not in check.seen  # the oldest timestamp went
    assert [check.check(BODY, r) for r in (requests[0], requests[2], requests[3])] == [
        Refusal.REPLAY
    ] * 3


@given(timestamp=st.one_of(st.none(), st.text()), sig=st.one_of(st.none(), st.text()))
def test_any_header_values_are_refused_never_raise(timestamp: str | None, sig: str | None) -> None:
    headers = {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sig}
    present = {name: value for name, value in headers.items() if value is not None}

    assert isinstance(verifier(FakeClock()).check(BODY, present), Refusal)
