"""The words of `/release` and `rollbot release`, checked once for both faces.

`<version> [apps=admin,isp] [ref=GIT_REF] [build-only] [dry-run] [skip-checks]
[<deploy options>]`: the deploy options are `/deploy`'s own (batch=, wait=, pilot=, ...),
checked by the same parser, and passed to each deploy. Every refusal is a UsageError
saying what is wrong. `skip-checks` is taken as exactly that word, never with a value.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from datetime import datetime

from rollout.options import (
    DRY_RUN_WORDS,
    UsageError,
    clean_text,
    parse_options,
    parse_version,
    show,
)
from rollout.release.model import ReleaseRequest

BUILD_ONLY_WORDS = frozenset({"build-only", "--build-only", "build_only", "buildonly"})
SKIP_CHECKS = "skip-checks"  # exactly this word: skipping the checks is never a typo away
RELEASE_KEYS = ("apps", "ref")
_FLAGS = {  # each flag word, as its one name
    **dict.fromkeys(BUILD_ONLY_WORDS, "build-only"), **dict.fromkeys(DRY_RUN_WORDS, "dry-run"),
    SKIP_CHECKS: SKIP_CHECKS,
}
# What git accepts in a ref name, less what a shell or a URL would choke on.
_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/+@-]{0,199}", re.ASCII)


def parse_release(
    tokens: Sequence[str], *, apps: Collection[str], now: datetime
) -> ReleaseRequest:
    """Words after `/release` -> a ReleaseRequest; the first bad word is refused."""
    words = [clean_text(t) for t in tokens if clean_text(t).strip()]
    if not words:
        raise UsageError("Say which version to release.", "For example: /release v1.3.1")
    version = parse_version(words[0])
    flags, given, deploy_words = _sorted(words[1:], version=version)
    # The deploy options are /deploy's own: its parser refuses what it would refuse there.
    parse_options(deploy_words, now=now)
    build_only = "build-only" in flags
    if build_only and deploy_words:
        raise UsageError(
            f"{show(deploy_words[0])} is a deploy option, and build-only deploys nothing.",
            "Leave out build-only to deploy, or the deploy options to only build.",
        )
    return ReleaseRequest(
        version=version,
        apps=_apps(given["apps"], known=apps) if "apps" in given else None,
        ref=_ref(given["ref"]) if "ref" in given else None,
        build_only=build_only,
        dry_run="dry-run" in flags,
        skip_checks=SKIP_CHECKS in flags,
        deploy_words=tuple(deploy_words),
    )


def _sorted(
    words: Sequence[str], *, version: str
) -> tuple[set[str], dict[str, str], list[str]]:
    """The flags given, the release's own key=value words, and the deploy options."""
    given: dict[str, str] = {}
    flags: set[str] = set()
    deploy_words: list[str] = []
    for word in words:
        lowered = word.lower()
        if lowered in _FLAGS:
            if _FLAGS[lowered] in flags:
                raise UsageError(f"{_FLAGS[lowered]} is given twice.", "Give each option once.")
            flags.add(_FLAGS[lowered])
        elif lowered.partition("=")[0] == SKIP_CHECKS:
            raise UsageError(f"{SKIP_CHECKS} takes no value: write {SKIP_CHECKS} alone.",
                             f"For example: /release {version} {SKIP_CHECKS}")
        elif lowered.partition("=")[0] in RELEASE_KEYS and "=" in word:
            key, _, value = word.partition("=")
            if key.lower() in given:
                raise UsageError(f"{key.lower()}= is given twice.", "Give each option once.")
            given[key.lower()] = value
        else:
            deploy_words.append(word)
    return flags, given, deploy_words


def _apps(text: str, *, known: Collection[str]) -> tuple[str, ...]:
    names = [name.strip() for name in text.split(",")]
    listed = ", ".join(sorted(known))
    if not text or not all(names):
        raise UsageError("apps= needs app names.", f"For example: apps={listed.replace(' ', '')}")
    for name in names:
        if name not in known:
            raise UsageError(f"There is no app {show(name)}.", f"Apps: {listed}.")
    if len(set(names)) != len(names):
        raise UsageError("apps= names an app twice.", "Name each app once.")
    return tuple(names)


def _ref(text: str) -> str:
    if not text:
        raise UsageError("ref= has no value.", "Write it as ref=v1.3.1, ref=main or ref=<commit>.")
    if not _REF.fullmatch(text) or ".." in text or text.endswith((".lock", "/", ".")):
        raise UsageError(f"{show(text)} is not a git ref.",
                         "Write a tag, a branch or a commit: ref=v1.3.1, ref=main.")
    return text


def format_release(request: ReleaseRequest) -> str:
    """The words of a request as `/release` takes them; they parse back to it."""
    words = [request.version]
    if request.apps is not None:
        words.append("apps=" + ",".join(request.apps))
    if request.ref is not None:
        words.append(f"ref={request.ref}")
    if request.build_only:
        words.append("build-only")
    if request.dry_run:
        words.append("dry-run")
    if request.skip_checks:
        words.append(SKIP_CHECKS)
    return " ".join([*words, *request.deploy_words])
