"""`/release` words: what is taken, and every bad word refused with a reason.

Given the words after `/release`, when they are parsed, then a ReleaseRequest comes out,
or a UsageError says what is wrong; nothing else escapes, whatever the text.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.commands import CommandError, Help
from handlers.release_commands import (
    CancelRelease,
    ListReleases,
    ReleaseStatus,
    StartRelease,
    parse_release_command,
)
from rollout.options import UsageError
from rollout.release import ReleaseRequest, format_release, parse_release

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
        ("v1.3.1 skip-checks", ReleaseRequest(version="v1.3.1", skip_checks=True)),
        ("v1.3.1 build-only skip-checks", ReleaseRequest(version="v1.3.1", build_only=True,
                                                         skip_checks=True)),
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
        ("v1.3.1 skip-checks=yes", "skip-checks takes no value"),
        ("v1.3.1 skip-checks=", "skip-checks takes no value"),
        ("v1.3.1 skip-checks skip-checks", "skip-checks is given twice"),
        ("v1.3.1 skip_checks", "Unexpected word `skip_checks`"),
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


# --- the verbs around a release, as `/release` and `rollbot release` read them -----------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v1.3.1 apps=isp", StartRelease(ReleaseRequest(version="v1.3.1", apps=("isp",)))),
        ("status", ReleaseStatus()),
        ("status R7", ReleaseStatus(7)),
        ("STATUS #7", ReleaseStatus(7)),
        ("list", ListReleases()),
        ("cancel r12", CancelRelease(12)),
        ("help", Help()),
    ],
)
def test_the_verbs_of_release(text: str, expected: object) -> None:
    assert parse_release_command(text, apps=APPS, now=NOW) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "Say which version to release."),
        ("cancel", "cancel needs a release ID."),
        ("cancel R0", "`R0` is not a release ID."),
        ("status R7 R8", "Unexpected `R8` after status."),
        ("list all", "Unexpected `all` after list."),
        ("1.3", "is not a version"),
    ],
)
def test_bad_verbs_get_the_usage_of_release(text: str, problem: str) -> None:
    with pytest.raises(CommandError) as refused:
        parse_release_command(text, apps=APPS, now=NOW)
    assert problem in refused.value.reply
    assert "Usage: /release <version> [apps=admin,isp]" in refused.value.reply
    assert "       /release cancel <ID>" in refused.value.reply


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["v1.3.1", "v2.0.0-rc.1", "apps=isp", "apps=admin,isp",
                                 "ref=main", "build-only", "dry-run", "skip-checks", "batch=3",
                                 "wait=1m"]),
                max_size=6))
def test_a_release_as_rollbot_quotes_it_parses_back_to_itself(words: list[str]) -> None:
    try:
        request = parse_release(words, apps=APPS, now=NOW)
    except UsageError:
        return
    again = parse_release(format_release(request).split(), apps=APPS, now=NOW)
    assert again == request
