"""Slash-command text -> typed commands: every verb, every refusal, and no crash on any text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.commands import (
    DEPLOY_USAGE,
    MAX_TEXT_LENGTH,
    RESERVED_WORDS,
    ROLLBACK_USAGE,
    CommandError,
    Control,
    Deploy,
    DeployCommand,
    Health,
    Help,
    History,
    ListActive,
    RollbackApp,
    RollbackCommand,
    RollbackRollout,
    Status,
    command_line,
    format_command,
    parse_deploy,
    parse_rollback,
)
from rollout.options import BatchSpec, RolloutOptions, Waves

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
APPS = ("admin", "isp")
FAST = settings(max_examples=150, deadline=None)


def deploy(text: str) -> DeployCommand:
    return parse_deploy(text, apps=APPS, now=NOW)


def rollback(text: str) -> RollbackCommand:
    return parse_rollback(text, apps=APPS, now=NOW)


# -- /deploy ----------------------------------------------------------------------------

V130 = Deploy("isp", "v1.3.0")


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("", Help()),
        ("   \n ", Help()),
        ("help", Help()),
        ("HELP", Help()),
        ("--help", Help()),
        ("help me please", Help()),
        ("isp v1.3.0", V130),
        ("admin v2.0.0+build.5", Deploy("admin", "v2.0.0+build.5")),
        ("isp v1.3.1-rc.1", Deploy("isp", "v1.3.1-rc.1")),
        ("isp v1.3.0 batch=5", Deploy("isp", "v1.3.0", RolloutOptions(batch=BatchSpec(size=5)))),
        (
            "isp v1.3.0 batch=10% wait=1m pilot=tenant-a,tenant-b waves=double at=14:30 dry-run",
            Deploy("isp", "v1.3.0", RolloutOptions(
                batch=BatchSpec(percent=10), wait=60, pilot_tenants=("tenant-a", "tenant-b"),
                waves=Waves.DOUBLE, at=datetime(2026, 6, 1, 14, 30, tzinfo=UTC), dry_run=True,
            )),
        ),
        ("isp v1.3.0 pilot=0 tenants=a,b", Deploy("isp", "v1.3.0", RolloutOptions(
            pilot_count=0, tenants=("a", "b")))),
        ("  isp\u00a0\u00a0v1.3.0  ", V130),
        ("isp\nv1.3.0\t", V130),
        ("isp\u2003v1.3.0", V130),
        ("isp v1.3.0\u200b", V130),
        ("\ufeffisp v1.3.0", V130),
        ("“isp” ‘v1.3.0’", V130),
        ('isp "v1.3.0"', V130),
        ("status", Status()),
        ("status 42", Status(42)),
        ("Status #42", Status(42)),
        ("status #007", Status(7)),
        ("list", ListActive()),
        ("history", History()),
        ("history admin", History("admin")),
        ("health isp", Health("isp")),
        ("health isp tenant-a", Health("isp", "tenant-a")),
        ("pause #42", Control("pause", 42)),
        ("resume 42", Control("resume", 42)),
        ("CANCEL #1", Control("cancel", 1)),
        ("cancel #999999999", Control("cancel", 999_999_999)),
    ],
)
def test_deploy_family_accepted(text: str, command: DeployCommand) -> None:
    assert deploy(text) == command


@pytest.mark.parametrize(
    ("text", "problem", "hint"),
    [
        ("nope v1.3.0", "Unknown app `nope`; configured apps: admin, isp.", "/deploy <app>"),
        ("Isp v1.3.0", "Unknown app `Isp`", "Did you mean isp?"),
        ("stauts", "Unknown app `stauts`", "Did you mean status?"),
        ("v1.3.0 isp", "Unknown app `v1.3.0`", "Put the app first"),
        ("isp", "/deploy isp needs a version.", "/deploy isp v1.3.0"),
        ("isp 1.3.0", "`1.3.0` is not a version", "v1.3.0"),
        ("isp latest", "`latest` is not a version; versions look like v1.3.0.", "semantic"),
        ("isp v1.3", "`v1.3` is not a version", "semantic"),
        ("isp v1.3.0 batch=0", "batch: `0` tenants per batch would never finish", "batch=1"),
        ("isp v1.3.0 batch=5 batch=6", "batch= is given twice", "once"),
        ("isp v1.3.0 speed=5", "Unknown option `speed`", "Valid options: batch"),
        ("isp v1.3.0 now", "Unexpected word `now`", "Valid options"),
        ("isp v1.3.0 wait=", "wait= has no value", "wait=1m"),
        ("isp v1.3.0 tenants=Tenant_A", "`Tenant_A` in tenants= is not a namespace", "63"),
        ("isp v1.3.0 at=2020-01-01T00:00Z", "at: `2020-01-01T00:00Z` is in the past", "future"),
        ("isp v1.3.0 <@U0ALICE>", "`<@U0ALICE>` is a Slack mention or link", "as text"),
        ("<#C0REL|releases> isp v1.3.0", "is a Slack mention or link", "as text"),
        ("<https://x.example|x>", "is a Slack mention or link", "as text"),
        ("status x", "`x` is not a rollout ID.", "42 or #42"),
        ("status #0", "`#0` is not a rollout ID; IDs run from 1 to 999,999,999.", "#number"),
        ("status 1000000000", "is not a rollout ID; IDs run from 1", "#number"),
        ("status #" + "9" * 500, "is not a rollout ID; IDs run from 1", "#number"),
        ("status -1", "`-1` is not a rollout ID.", "42 or #42"),
        ("status ٤٢", "`٤٢` is not a rollout ID.", "42 or #42"),
        ("status 1 2", "Unexpected `2` after status.", "/deploy status [ID]"),
        ("list all", "Unexpected `all` after list.", "/deploy list"),
        ("history nope", "Unknown app `nope`; configured apps: admin, isp.", "configured apps"),
        ("history isp admin", "Unexpected `admin` after history.", "/deploy history [app]"),
        ("health", "health needs an app.", "/deploy health isp"),
        ("health nope", "Unknown app `nope`", "configured apps"),
        ("health isp Tenant-A", "`Tenant-A` is not a tenant namespace name.", "lowercase"),
        ("health isp a b", "Unexpected `b` after health.", "/deploy health <app> [tenant]"),
        ("pause", "pause needs a rollout ID.", "/deploy pause #42"),
        ("cancel #4 now", "Unexpected `now` after cancel.", "/deploy cancel <ID>"),
        ("resume #x", "`#x` is not a rollout ID.", "42 or #42"),
        ("x" * (MAX_TEXT_LENGTH + 1), "too long (1,001 characters; the limit is 1,000)", "Shorten"),
        (" " * 4000, "too long", "Shorten"),
    ],
)
def test_deploy_family_refused(text: str, problem: str, hint: str) -> None:
    with pytest.raises(CommandError) as caught:
        deploy(text)
    error = caught.value
    assert problem in error.problem
    assert error.hint is not None and hint in error.hint
    assert error.usage == DEPLOY_USAGE
    assert str(error) == error.problem == error.error.problem


def test_unknown_app_with_no_apps_configured_says_so() -> None:
    with pytest.raises(CommandError, match="no apps are configured"):
        parse_deploy("isp v1.3.0", apps=(), now=NOW)


def test_a_long_app_list_is_shortened() -> None:
    apps = [f"app{n:02d}" for n in range(30)]
    with pytest.raises(CommandError) as caught:
        parse_deploy("nope v1.0.0", apps=apps, now=NOW)
    assert "app00, app01" in caught.value.problem and "app29" not in caught.value.problem
    assert caught.value.problem.endswith(", ….")


def test_reply_has_problem_hint_and_usage() -> None:
    with pytest.raises(CommandError) as caught:
        deploy("isp 1.3.0")
    lines = caught.value.reply.split("\n")
    assert lines[0] == "`1.3.0` is not a version; versions look like v1.3.0."
    assert lines[1] == "Add the leading v: v1.3.0."
    assert lines[2].startswith("Usage: /deploy <app> <version> [batch=N|N%]")
    assert all(line.startswith("       /deploy") or line.startswith("        ")
               for line in lines[3:])
    assert len(lines) == 2 + len(DEPLOY_USAGE.split("\n"))


def test_reply_without_a_hint_skips_the_line() -> None:
    with pytest.raises(CommandError) as caught:
        deploy("isp v1.3.0 batch=101%")
    assert caught.value.hint is None
    assert caught.value.reply.split("\n")[1].startswith("Usage: ")


def test_usage_lines_follow_the_spec() -> None:
    for verb in ("status [ID]", "list", "history [app]", "health <app> [tenant]", "help",
                 "pause|resume|cancel <ID>", "[waves=fixed|double] [at=HH:MM|ISO-8601] [dry-run]"):
        assert verb in DEPLOY_USAGE
    assert ROLLBACK_USAGE.split("\n") == [
        "/rollback <ID> [tenants=ns1,ns2]",
        "/rollback <app> [to=VERSION] [tenants=ns1,ns2]",
    ]


def test_reserved_words_are_what_the_parser_claims_first() -> None:
    assert {"status", "list", "history", "health", "pause", "resume", "cancel", "help"} <= (
        RESERVED_WORDS
    )


# -- /rollback --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("", Help()),
        ("help", Help()),
        ("42", RollbackRollout(42)),
        ("#42", RollbackRollout(42)),
        ("#42 tenants=tenant-a,tenant-b", RollbackRollout(42, ("tenant-a", "tenant-b"))),
        ("isp", RollbackApp("isp")),
        ("admin to=v1.2.0", RollbackApp("admin", "v1.2.0")),
        ("isp tenants=a to=v1.2.0", RollbackApp("isp", "v1.2.0", ("a",))),
        ("isp\u00a0tenants=a", RollbackApp("isp", None, ("a",))),
    ],
)
def test_rollback_accepted(text: str, command: RollbackCommand) -> None:
    assert rollback(text) == command


@pytest.mark.parametrize(
    ("text", "problem", "hint"),
    [
        ("nope", "`nope` is neither a rollout ID nor an app; configured apps: admin, isp.",
         "rollout ID (#42) or an app"),
        ("ips", "`ips` is neither a rollout ID nor an app", "Did you mean isp?"),
        ("#0", "`#0` is not a rollout ID; IDs run from 1", "#number"),
        ("#x", "`#x` is neither a rollout ID nor an app", "rollout ID (#42)"),
        ("#42 to=v1.2.0", "to= goes with an app, not a rollout ID.", "/rollback <app> to="),
        ("#42 batch=5", "Unknown option `batch`", "Valid options: tenants."),
        ("#42 tenants=", "tenants= has no value", "tenants=tenant-a"),
        ("#42 tenants=a,a", "tenants= names `a` twice", "once"),
        ("#42 everything", "Unexpected word `everything`", "Valid options: tenants."),
        ("isp to=1.2.0", "to: `1.2.0` is not a version", "v1.2.0"),
        ("isp to=v1.2.0 to=v1.1.0", "to= is given twice", "once"),
        ("isp tenants=A", "`A` in tenants= is not a namespace name", "lowercase"),
        ("isp now", "Unexpected word `now`", "Valid options: to, tenants."),
        ("<@U0BOB>", "is a Slack mention or link", "as text"),
        ("1" * 1001, "too long", "Shorten"),
    ],
)
def test_rollback_refused(text: str, problem: str, hint: str) -> None:
    with pytest.raises(CommandError) as caught:
        rollback(text)
    assert problem in caught.value.problem
    assert caught.value.hint is not None and hint in caught.value.hint
    assert caught.value.usage == ROLLBACK_USAGE
    assert caught.value.reply.split("\n")[2] == "Usage: /rollback <ID> [tenants=ns1,ns2]"


# -- canonical text ---------------------------------------------------------------------

@pytest.mark.parametrize(
    ("command", "line"),
    [
        (V130, "/deploy isp v1.3.0"),
        (
            Deploy("isp", "v1.3.0", RolloutOptions(
                batch=BatchSpec(percent=10), wait=5400, pilot_count=0, tenants=("a", "b"),
                waves=Waves.FIXED, at=datetime(2026, 6, 2, 14, 30, tzinfo=UTC), dry_run=True)),
            "/deploy isp v1.3.0 batch=10% wait=1h30m pilot=0 tenants=a,b waves=fixed "
            "at=2026-06-02T14:30:00Z dry-run",
        ),
        (Status(), "/deploy status"),
        (Status(42), "/deploy status #42"),
        (ListActive(), "/deploy list"),
        (History(), "/deploy history"),
        (History("isp"), "/deploy history isp"),
        (Health("isp"), "/deploy health isp"),
        (Health("isp", "tenant-a"), "/deploy health isp tenant-a"),
        (Help(), "/deploy help"),
        (Control("pause", 3), "/deploy pause #3"),
        (RollbackRollout(42), "/rollback #42"),
        (RollbackRollout(42, ("a", "b")), "/rollback #42 tenants=a,b"),
        (RollbackApp("admin"), "/rollback admin"),
        (RollbackApp("isp", "v1.2.0", ("a",)), "/rollback isp to=v1.2.0 tenants=a"),
    ],
)
def test_command_lines(command: DeployCommand | RollbackCommand, line: str) -> None:
    assert command_line(command) == line


def test_format_refuses_what_is_not_a_command() -> None:
    with pytest.raises(TypeError, match="not a command"):
        format_command("isp v1.3.0")  # type: ignore[arg-type]


# -- properties -------------------------------------------------------------------------

WORD_POOL = [
    "isp", "admin", "nope", "status", "list", "history", "health", "help", "pause", "resume",
    "cancel", "42", "#42", "#0", "#", "v1.3.0", "1.3.0", "v1.3.1-rc.1", "batch=5", "batch=0",
    "batch=10%", "wait=1m", "wait=60", "pilot=2", "pilot=a,b", "tenants=a,b", "tenants=a,a",
    "waves=double", "at=14:30", "at=2026-06-02T14:30Z", "at=2026-06-02T14:30", "dry-run",
    "to=v1.2.0", "to=", "<@U0ALICE>", "<!channel>", "“isp”", "tenant-a", "Tenant_A", "=",
    "&lt;", "٤٢", "\u200b", "#99999999999999999999",
]
SEPARATORS = st.sampled_from([" ", "  ", "\u00a0", "\n", "\t", "\u2003", "\r\n", ""])


@st.composite
def command_texts(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.one_of(st.sampled_from(WORD_POOL), st.text(max_size=12)),
                          max_size=8))
    parts = []
    for word in words:
        parts += [draw(SEPARATORS), word]
    return "".join(parts)


ANY_TEXT = st.one_of(st.text(max_size=4000), st.text(max_size=80), command_texts())


@given(ANY_TEXT)
@FAST
def test_any_text_is_a_deploy_command_or_a_command_error(text: str) -> None:
    try:
        deploy(text)
    except CommandError as err:
        assert err.problem and err.usage == DEPLOY_USAGE


@given(ANY_TEXT)
@FAST
def test_any_text_is_a_rollback_command_or_a_command_error(text: str) -> None:
    try:
        rollback(text)
    except CommandError as err:
        assert err.problem and err.usage == ROLLBACK_USAGE


NAMESPACE = st.from_regex(r"[a-z][-a-z0-9]{0,10}[a-z0-9]", fullmatch=True)
TENANTS = st.one_of(st.none(), st.lists(NAMESPACE, min_size=1, max_size=4, unique=True).map(tuple))
IDS = st.integers(1, 999_999_999)
APP = st.sampled_from(APPS)


@st.composite
def versions(draw: st.DrawFn) -> str:
    core = ".".join(str(draw(st.integers(0, 999))) for _ in range(3))
    ident = st.one_of(st.integers(0, 99).map(str), st.from_regex(r"[a-z][-a-z0-9]{0,6}",
                                                                 fullmatch=True))
    pre = draw(st.lists(ident, max_size=3))
    build = draw(st.lists(st.from_regex(r"[0-9a-zA-Z-]{1,6}", fullmatch=True), max_size=2))
    return ("v" + core + ("-" + ".".join(pre) if pre else "")
            + ("+" + ".".join(build) if build else ""))


@st.composite
def options(draw: st.DrawFn) -> RolloutOptions:
    tenants = draw(TENANTS)
    pilots = draw(st.one_of(
        st.none(),
        st.integers(0, len(tenants) if tenants else 50),
        st.lists(st.sampled_from(tenants) if tenants else NAMESPACE,
                 min_size=1, max_size=2, unique=True).map(tuple),
    ))
    ahead = st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=29))
    return RolloutOptions(
        batch=draw(st.one_of(st.none(), st.integers(1, 500).map(lambda n: BatchSpec(size=n)),
                             st.integers(1, 100).map(lambda n: BatchSpec(percent=n)))),
        wait=draw(st.one_of(st.none(), st.integers(0, 86_400))),
        pilot_count=pilots if isinstance(pilots, int) else None,
        pilot_tenants=pilots if isinstance(pilots, tuple) else None,
        tenants=tenants,
        waves=draw(st.one_of(st.none(), st.sampled_from(Waves))),
        at=draw(st.one_of(st.none(), ahead.map(lambda d: NOW + d))),
        dry_run=draw(st.booleans()),
    )


DEPLOY_COMMANDS = st.one_of(
    st.builds(Deploy, APP, versions(), options()),
    st.builds(Status, st.one_of(st.none(), IDS)),
    st.just(ListActive()),
    st.builds(History, st.one_of(st.none(), APP)),
    st.builds(Health, APP, st.one_of(st.none(), NAMESPACE)),
    st.just(Help()),
    st.builds(Control, st.sampled_from(["pause", "resume", "cancel"]), IDS),
)
ROLLBACK_COMMANDS = st.one_of(
    st.builds(RollbackRollout, IDS, TENANTS),
    st.builds(RollbackApp, APP, st.one_of(st.none(), versions()), TENANTS),
    st.just(Help()),
)


@given(DEPLOY_COMMANDS)
@FAST
def test_deploy_commands_round_trip_through_their_text(command: DeployCommand) -> None:
    assert deploy(format_command(command)) == command


@given(ROLLBACK_COMMANDS)
@FAST
def test_rollback_commands_round_trip_through_their_text(command: RollbackCommand) -> None:
    assert rollback(format_command(command)) == command
