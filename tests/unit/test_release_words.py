"""`/release` words: what is taken, and every bad word refused with a reason.

Given the words after `/release`, when they are parsed, then a ReleaseRequest comes out,
or a UsageError says what is wrong; nothing else escapes, whatever the text.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.options import UsageError
from rollout.release import ReleaseRequest, parse_release

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
APPS = ("admin", "isp")


def parse(text: str) -> ReleaseRequest:
    return parse_release(text.split(), apps=APPS, now=NOW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v1.3.1", ReleaseRequest(version="v1.3.1")),
        ("v1.3.1 apps=isp", ReleaseRequest(version="v1.3.1", apps=("isp",))),
        ("v1.3.1 apps=isp,admin ref=main", ReleaseRequest(version="v1.3.1",
                                                           apps=("isp", "admin"), ref="main")),
        ("v1.3.1 build-only", ReleaseRequest(version="v1.3.1", build_only=True)),
        ("v1.3.1 dry-run", ReleaseRequest(version="v1.3.1", dry_run=True)),
        ("v1.3.1 batch=5 wait=0s", ReleaseRequest(version="v1.3.1",
                                                  deploy_words=("batch=5", "wait=0s"))),
        ("v2.0.0-rc.1 ref=release/2.0", ReleaseRequest(version="v2.0.0-rc.1",
                                                        ref="release/2.0")),
    ],
)
def test_good_words(text: str, expected: ReleaseRequest) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "Say which version"),
        ("1.3", "is not a version"),
        ("v1.3.1 apps=nope", "There is no app `nope`"),
        ("v1.3.1 apps=", "apps= needs app names"),
        ("v1.3.1 apps=isp,isp", "names an app twice"),
        ("v1.3.1 ref=", "ref= has no value"),
        ("v1.3.1 ref=a..b", "is not a git ref"),
        ("v1.3.1 ref=main ref=dev", "ref= is given twice"),
        ("v1.3.1 build-only build-only", "build-only is given twice"),
        ("v1.3.1 hello", "Unexpected word `hello`"),
        ("v1.3.1 batch=0", "batch"),
        ("v1.3.1 build-only batch=5", "build-only deploys nothing"),
        ("status", "is not a version"),
    ],
)
def test_bad_words_are_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(UsageError) as refused:
        parse(text)
    assert problem in str(refused.value) + (refused.value.hint or "")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=6))
def test_any_text_is_a_request_or_a_usage_error(words: list[str]) -> None:
    """Given any words at all, then parsing answers a request or a UsageError, never more."""
    try:
        request = parse_release(words, apps=APPS, now=NOW)
    except UsageError:
        return
    assert request.version.startswith("v")
