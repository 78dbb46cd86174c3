"""Counting a pod's log: which lines are requests and errors, and their response times."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.kube.probes import LATENCY, count_log, latency_in

# Pieces a log line is made of, chosen so that numbers, "ms" and word characters meet in
# every order: "12ms", "x12ms", "1.5ms", "ms12", "=7ms", "items", "2026-12-03T10:00".
PIECES = st.sampled_from(
    ["12", "7", ".", "5", "ms", "m", "s", "x", "_", " ", "=", ":", "-", "T", "HTTP", "ERROR"]
)


@given(st.lists(PIECES, max_size=24).map("".join))
def test_the_response_time_found_is_the_first_the_pattern_matches(line: str) -> None:
    found = LATENCY.search(line)
    assert latency_in(line) == (float(found.group(1)) if found else None)


def test_a_log_is_counted_by_its_request_and_error_lines() -> None:
    # Given a start-up line, three requests (one failed) and an error outside a request
    log = "\n".join([
        "2026-12-03T10:00:00Z INFO server v1.3.0 listening on port 3000",
        "2026-12-03T10:00:01Z INFO HTTP GET /api/health 200 12ms",
        "2026-12-03T10:00:02Z ERROR HTTP POST /api/orders 500 duration=40ms upstream failed",
        "2026-12-03T10:00:03Z INFO HTTP GET /api/items 200 took 2.5ms",
        "2026-12-03T10:00:04Z ERROR cache miss storm",
    ])  # fmt: skip

    # When it is counted
    stats = count_log(log)

    # Then requests are the HTTP lines, errors every ERROR line, latency their mean
    assert (stats.http_lines, stats.error_lines) == (3, 2)
    assert stats.mean_latency_ms == (12 + 40 + 2.5) / 3


def test_requests_without_a_response_time_leave_the_mean_unknown() -> None:
    stats = count_log("10:00:01 INFO HTTP GET /api/items 200\n10:00:02 INFO HTTP GET / 200 fast")
    assert (stats.http_lines, stats.error_lines, stats.mean_latency_ms) == (2, 0, None)
