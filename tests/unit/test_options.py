"""The option grammar shared by `/deploy` and `rollbot deploy`: every form, every refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rollout.options import (
    DRY_RUN_WORDS,
    MAX_COUNT,
    MAX_DURATION_SECONDS,
    OPTION_KEYS,
    BatchSpec,
    RolloutOptions,
    UsageError,
    Waves,
    format_duration,
    format_elapsed,
    format_options,
    parse_batch,
    parse_duration,
    parse_options,
    parse_version,
    show,
)

NOW = datetime(2026, 6, 1, 12, 0, 20, tzinfo=UTC)
FAST = settings(max_examples=150, deadline=None)


# -- versions ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text",
    ["v1.3.0", "v0.0.0", "v10.20.30", "v1.3.1-rc.1", "v2.0.0+build.5", "v1.0.0-alpha-a.b-c",
     "v1.0.0-0.3.7", "v1.0.0-x.7.z.92+exp.sha.5114f85"],
)
def test_versions_accepted(text: str) -> None:
    assert parse_version(text) == text


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("1.3.0", "v1.3.0"),
        ("v1.3", "semantic version"),
        ("latest", "semantic version"),
        ("v01.2.3", "semantic version"),
        ("v1.2.3-01", "semantic version"),
        ("V1.2.3", "semantic version"),
        ("v1.2.3-", "semantic version"),
        ("v1.2.3+", "semantic version"),
        ("v1.2.3\n", "semantic version"),
        ("v١.2.3", "semantic version"),
        ("v1.2.3-" + "a" * 200, "semantic version"),
        ("", "semantic version"),
    ],
)
def test_versions_refused(text: str, hint: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_version(text)
    assert "versions look like v1.3.0" in caught.value.problem
    assert show(text) in caught.value.problem
    assert caught.value.hint is not None and hint in caught.value.hint
    assert str(caught.value) == caught.value.problem


# -- durations --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("0s", 0), ("2h", 7200), ("1h5m10s", 3910),
     ("90m", 5400), ("168h", MAX_DURATION_SECONDS), ("05m", 300)],
)
def test_durations_accepted(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "problem", "hint"),
    [
        ("60", "`60` is not a duration", "60s, 60m or 60h"),
        ("", "is not a duration", "30s, 5m or 1h30m"),
        ("5M", "`5M` is not a duration", "30s, 5m or 1h30m"),
        ("30m1h", "`30m1h` is not a duration", "30s, 5m or 1h30m"),
        ("1h1h", "`1h1h` is not a duration", "30s, 5m or 1h30m"),
        ("-5m", "`-5m` is not a duration", "30s, 5m or 1h30m"),
        ("1.5h", "`1.5h` is not a duration", "30s, 5m or 1h30m"),
        ("1d", "`1d` is not a duration", "30s, 5m or 1h30m"),
        ("169h", "capped at 7 days", "shorter"),
        ("99999999m", "capped at 7 days", "shorter"),
        ("9" * 5000 + "s", "is not a duration", "30s"),
    ],
)
def test_durations_refused(text: str, problem: str, hint: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_duration(text)
    assert problem in caught.value.problem
    assert caught.value.hint is not None and hint in caught.value.hint


@given(st.integers(min_value=0, max_value=MAX_DURATION_SECONDS))
@FAST
def test_duration_text_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_format_duration_is_compact() -> None:
    assert [format_duration(s) for s in (0, 45, 60, 5400, 3910)] == [
        "0s", "45s", "1m", "1h30m", "1h5m10s"
    ]
    assert format_duration(-1) == "0s"  # only clocks that disagree make one


# -- batches ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "spec"),
    [("5", BatchSpec(size=5)), ("1", BatchSpec(size=1)), ("10%", BatchSpec(percent=10)),
     ("100%", BatchSpec(percent=100)), (str(MAX_COUNT), BatchSpec(size=MAX_COUNT))],
)
def test_batches_accepted(text: str, spec: BatchSpec) -> None:
    assert parse_batch(text) == spec
    assert spec.text == text


@pytest.mark.parametrize(
    ("text", "problem"),
    [("0", "`0` tenants per batch would never finish"), ("0%", "`0%` is out of range"),
     ("101%", "`101%` is out of range"), ("-1", "`-1` is not a batch size"),
     ("2.5", "`2.5` is not a batch size"), ("five", "`five` is not a batch size"),
     ("10 %", "`10 %` is not a batch size"), (str(MAX_COUNT + 1), "is too large"),
     ("9" * 40, "is not a batch size")],
)
def test_batches_refused(text: str, problem: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_batch(text)
    assert problem in caught.value.problem


@pytest.mark.parametrize(
    ("spec", "total", "size"),
    [(BatchSpec(size=5), 100, 5), (BatchSpec(size=5), 3, 3), (BatchSpec(percent=10), 95, 10),
     (BatchSpec(percent=10), 100, 10), (BatchSpec(percent=1), 5, 1), (BatchSpec(percent=100), 7, 7),
     (BatchSpec(percent=50), 0, 1), (BatchSpec(size=3), 0, 1), (BatchSpec(percent=33), 10, 4)],
)
def test_batch_resolves_to_a_ceiling_share_of_at_least_one(
    spec: BatchSpec, total: int, size: int
) -> None:
    assert spec.resolve(total) == size


@pytest.mark.parametrize(
    "kwargs", [{}, {"size": 1, "percent": 1}, {"size": 0}, {"percent": 0}, {"percent": 101}]
)
def test_batch_spec_refuses_impossible_values(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="batch"):
        BatchSpec(**kwargs)


def test_batch_of_a_negative_fleet_is_a_bug() -> None:
    with pytest.raises(ValueError, match="fewer than 0"):
        BatchSpec(size=1).resolve(-1)


# -- whole option lists -----------------------------------------------------------------

def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        ([], RolloutOptions()),
        (["batch=5"], RolloutOptions(batch=BatchSpec(size=5))),
        (["batch=10%"], RolloutOptions(batch=BatchSpec(percent=10))),
        (["wait=1m"], RolloutOptions(wait=60)),
        (["wait=0s"], RolloutOptions(wait=0)),
        (["pilot=2"], RolloutOptions(pilot_count=2)),
        (["pilot=0"], RolloutOptions(pilot_count=0)),
        (["pilot=tenant-a,tenant-b"], RolloutOptions(pilot_tenants=("tenant-a", "tenant-b"))),
        (["pilot=7"], RolloutOptions(pilot_count=7)),
        (["pilot=1,2"], RolloutOptions(pilot_tenants=("1", "2"))),
        (["tenants=tenant-a,tenant-b"], RolloutOptions(tenants=("tenant-a", "tenant-b"))),
        (["tenants=b,a"], RolloutOptions(tenants=("b", "a"))),
        (["tenants=" + "a" * 63], RolloutOptions(tenants=("a" * 63,))),
        (["tenants=123"], RolloutOptions(tenants=("123",))),
        (["waves=double"], RolloutOptions(waves=Waves.DOUBLE)),
        (["waves=fixed"], RolloutOptions(waves=Waves.FIXED)),
        (["waves=Double"], RolloutOptions(waves=Waves.DOUBLE)),
        (["at=14:30"], RolloutOptions(at=_at(1, 14, 30))),
        (["at=9:05"], RolloutOptions(at=_at(1, 9, 5) + timedelta(days=1))),
        (["at=12:00"], RolloutOptions(at=_at(2, 12))),
        (["at=00:00"], RolloutOptions(at=_at(2, 0))),
        (["at=2026-06-02T14:30:00Z"], RolloutOptions(at=_at(2, 14, 30))),
        (["at=2026-06-02T14:30Z"], RolloutOptions(at=_at(2, 14, 30))),
        (["at=2026-06-02T16:30:00+02:00"], RolloutOptions(at=_at(2, 14, 30))),
        (["at=2026-06-02T09:30-0500"], RolloutOptions(at=_at(2, 14, 30))),
        (["at=2026-06-02t14:30z"], RolloutOptions(at=_at(2, 14, 30))),
        (["dry-run"], RolloutOptions(dry_run=True)),
        (["--dry-run"], RolloutOptions(dry_run=True)),
        (["dryrun"], RolloutOptions(dry_run=True)),
        (["Batch=5"], RolloutOptions(batch=BatchSpec(size=5))),
        (
            ["tenants=a,b,c", "pilot=a", "batch=2", "wait=30s", "waves=double", "dry-run"],
            RolloutOptions(
                batch=BatchSpec(size=2), wait=30, pilot_tenants=("a",),
                tenants=("a", "b", "c"), waves=Waves.DOUBLE, dry_run=True,
            ),
        ),
        (["pilot=2", "tenants=a,b"], RolloutOptions(pilot_count=2, tenants=("a", "b"))),
    ],
)
def test_options_accepted(tokens: list[str], expected: RolloutOptions) -> None:
    assert parse_options(tokens, now=NOW) == expected


def test_clock_time_is_read_as_utc_whatever_the_zone_of_now() -> None:
    now = datetime(2026, 6, 1, 23, 0, tzinfo=timezone(timedelta(hours=2)))  # 21:00 UTC
    assert parse_options(["at=22:00"], now=now).at == _at(1, 22)


@pytest.mark.parametrize(
    ("tokens", "problem", "hint"),
    [
        (["batch=0"], "batch: `0` tenants per batch would never finish", "batch=1"),
        (["batch=abc"], "batch: `abc` is not a batch size", "batch=10%"),
        (["wait=60"], "wait: `60` is not a duration", "60s"),
        (["wait=8d"], "wait: `8d` is not a duration", "1h30m"),
        (["waves=triple"], "waves: `triple` is not a wave shape", "waves=double"),
        (["at=25:00"], "at: `25:00` is not a time", "HH:MM"),
        (["at=tomorrow"], "at: `tomorrow` is not a time", "HH:MM"),
        (["at=2026-06-02T14:30"], "at: `2026-06-02T14:30` has no UTC offset", "Z"),
        (["at=2026-02-30T14:30Z"], "is not a real date and time", "HH:MM"),
        (["at=2026-06-01T12:00:00Z"], "is in the past", "future"),
        (["at=2020-01-01T00:00Z"], "is in the past (it is now 2026-06-01 12:00 UTC)", "future"),
        (["at=2026-08-01T00:00Z"], "more than 30 days away", "30 days"),
        (["at=9999-12-31T23:59-23:59"], "is not a real date and time", "HH:MM"),
        (["pilot=a,b", "tenants=a,c"], "Pilot tenant `b` is not among tenants=", "Pilots"),
        (["pilot=3", "tenants=a,b"], "pilot=3 asks for more pilots than the 2 tenants", "pilot="),
        ([f"pilot={MAX_COUNT + 1}"], "too many pilots", None),
        (["pilot=A"], "`A` in pilot= is not a namespace name", "lowercase: a"),
        (["tenants=Tenant-A"], "`Tenant-A` in tenants= is not a namespace name", "lowercase"),
        (["tenants=tenant_a"], "`tenant_a` in tenants= is not a namespace name", "63 lowercase"),
        (["tenants=-a"], "`-a` in tenants= is not a namespace name", "63 lowercase"),
        (["tenants=a-"], "`a-` in tenants= is not a namespace name", "63 lowercase"),
        (["tenants=" + "a" * 64], "in tenants= is not a namespace name", "63"),
        (["tenants=a,,b"], "tenants= has an empty tenant name", "commas"),
        (["tenants=a,"], "tenants= has an empty tenant name", "commas"),
        (["tenants=a,b,a"], "tenants= names `a` twice", "once"),
        (["tenants=“a”"], "in tenants= is not a namespace name", "63"),
        (["pilot=a,a"], "pilot= names `a` twice", "once"),
        (["bacth=5"], "Unknown option `bacth`", "Did you mean batch?"),
        (["colour=red"], "Unknown option `colour`", "Valid options: batch, wait, pilot"),
        (["--batch=5"], "Unknown option `--batch`", "without leading dashes: batch="),
        (["fast"], "Unexpected word `fast`", "Valid options"),
        (["--auto-approve"], "Unexpected word `--auto-approve`", "Valid options"),
        (["5"], "Unexpected word `5`", "Valid options"),
        (["batch="], "batch= has no value", "batch=5"),
        (["tenants="], "tenants= has no value", "tenants=tenant-a"),
        (["=5"], "Unknown option ``", "Valid options"),
        (["batch=5", "batch=6"], "batch= is given twice", "once"),
        (["wait=1m", "Wait=2m"], "wait= is given twice", "once"),
        (["dry-run", "--dry-run"], "dry-run is given twice", "once"),
    ],
)
def test_options_refused(tokens: list[str], problem: str, hint: str | None) -> None:
    with pytest.raises(UsageError) as caught:
        parse_options(tokens, now=NOW)
    assert problem in caught.value.problem
    if hint is None:
        assert caught.value.hint is None
    else:
        assert caught.value.hint is not None and hint in caught.value.hint


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_options([], now=datetime(2026, 6, 1, 12, 0))


@pytest.mark.parametrize(
    "kwargs",
    [{"pilot_count": 1, "pilot_tenants": ("a",)}, {"at": datetime(2026, 6, 1, 12, 0)}],
)
def test_options_refuse_impossible_combinations(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"pilots|aware"):
        RolloutOptions(**kwargs)  # type: ignore[arg-type]


def test_show_keeps_messages_short_and_visible() -> None:
    assert show("a`b") == "`a'b`"
    assert show("x\ny") == "`x\\u000ay`"
    assert show("z" * 100) == "`" + "z" * 39 + "…`"


# -- properties -------------------------------------------------------------------------

TOKEN_POOL = [
    "batch=5", "batch=10%", "batch=0", "batch=", "wait=1m", "wait=60", "pilot=2", "pilot=0",
    "pilot=a,b", "tenants=a,b", "tenants=A", "waves=double", "waves=x", "at=14:30",
    "at=2026-06-02T14:30:00Z", "at=2026-06-02T14:30", "dry-run", "--dry-run", "x", "=",
    "at=", "batch=١", "wait=1h30m", "pilot=a,,b", "tenants=a,a", "at=9999-12-31T23:59:59-23:59",
    "at=0000-01-01T00:00Z", "at=2026-06-02T24:00Z", "wait=99999999999h",
]
ANY_TOKEN = st.one_of(st.sampled_from(TOKEN_POOL), st.text(max_size=60))
KEYED_TOKEN = st.builds(
    lambda key, value: f"{key}={value}",
    st.sampled_from(["batch", "wait", "pilot", "tenants", "waves", "at", "to", "Batch"]),
    st.one_of(st.text(max_size=30), st.from_regex(r"[0-9a-z%:,.\-+TZ]{0,25}", fullmatch=True)),
)


@given(st.lists(st.one_of(ANY_TOKEN, KEYED_TOKEN), max_size=8))
@FAST
def test_any_tokens_give_options_or_a_usage_error(tokens: list[str]) -> None:
    try:
        parse_options(tokens, now=NOW)
    except UsageError as err:
        assert err.problem


VALUES = st.one_of(
    st.sampled_from(["true", "false", "yes", "no", "1", "0", "", "5", "10%", "1m", "double",
                     "14:30", "tenant-a", "tenant-a,tenant-b", "2026-06-02T14:30:00Z"]),
    st.text(max_size=30),
    st.from_regex(r"[0-9a-z%:,.\-+TZ]{0,25}", fullmatch=True),
)


@given(
    key=st.sampled_from([*OPTION_KEYS, *sorted(DRY_RUN_WORDS)]),
    value=VALUES,
    upper=st.booleans(),
)
@FAST
def test_every_option_value_is_read_or_refused_never_ignored(
    key: str, value: str, upper: bool
) -> None:
    # Given any option key, in any case, with any value after `=`
    word = f"{key.upper() if upper else key}={value}"
    # When it is parsed, Then either the whole word is refused with a usage error...
    try:
        options = parse_options([word], now=NOW)
    except UsageError as err:
        assert err.problem
        return
    # ...or the parsed options carry that key's value: its canonical text names the key,
    # and nothing else was read from it (a flag such as dry-run never takes a value).
    assert key.lower() not in DRY_RUN_WORDS, f"{word!r} was accepted as {options!r}"
    words = format_options(options)
    assert [w.partition("=")[0] for w in words] == [key.lower()], (word, words)
    assert parse_options(words, now=NOW) == options


@pytest.mark.parametrize("word", ["dry-run=true", "dry-run=yes", "dry-run=false", "DRY-RUN=1",
                                  "dryrun=true", "--dry-run=true", "dry_run=", "dry-run=="])
def test_a_flag_given_a_value_is_refused(word: str) -> None:
    with pytest.raises(UsageError) as refused:
        parse_options([word], now=NOW)
    assert "takes no value" in refused.value.problem
    assert refused.value.hint is not None and "leave it out" in refused.value.hint


@given(st.text(max_size=200))
@FAST
def test_any_text_is_a_version_duration_and_batch_or_a_usage_error(text: str) -> None:
    for parse in (parse_version, parse_duration, parse_batch):
        try:
            parse(text)
        except UsageError as err:
            assert err.problem


NAMESPACE = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,12}[a-z0-9])?", fullmatch=True)


@st.composite
def rollout_options(draw: st.DrawFn) -> RolloutOptions:
    batch = draw(st.one_of(
        st.none(),
        st.builds(lambda n: BatchSpec(size=n), st.integers(1, MAX_COUNT)),
        st.builds(lambda n: BatchSpec(percent=n), st.integers(1, 100)),
    ))
    tenants = draw(st.one_of(st.none(), st.lists(NAMESPACE, min_size=1, max_size=6, unique=True)))
    pilot_count, pilot_tenants = None, None
    pilot_kind = draw(st.sampled_from(["none", "count", "names"]))
    if pilot_kind == "count":
        pilot_count = draw(st.integers(0, len(tenants) if tenants else MAX_COUNT))
    elif pilot_kind == "names":
        pool = st.sampled_from(tenants) if tenants else NAMESPACE
        names = draw(st.lists(pool, min_size=1, max_size=3, unique=True))
        # `pilot=12` is a count: a lone all-digit namespace cannot be named as a pilot.
        assume(not (len(names) == 1 and names[0].isdigit()))
        pilot_tenants = tuple(names)
    ahead = st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=30))
    return RolloutOptions(
        batch=batch,
        wait=draw(st.one_of(st.none(), st.integers(0, MAX_DURATION_SECONDS))),
        pilot_count=pilot_count,
        pilot_tenants=pilot_tenants,
        tenants=None if tenants is None else tuple(tenants),
        waves=draw(st.one_of(st.none(), st.sampled_from(Waves))),
        at=draw(st.one_of(st.none(), st.builds(lambda d: NOW + d, ahead))),
        dry_run=draw(st.booleans()),
    )


@given(rollout_options())
@FAST
def test_options_round_trip_through_their_text(options: RolloutOptions) -> None:
    assert parse_options(format_options(options), now=NOW) == options


@pytest.mark.parametrize(("seconds", "shown"), [
    (0.0, "0.0s"), (0.34, "0.3s"), (0.96, "1.0s"), (3.25, "3.2s"), (9.94, "9.9s"),
    (9.96, "10s"), (12.4, "12s"), (125, "2m5s"), (-0.2, "0.0s"),
])
def test_a_measured_time_shows_tenths_below_ten_seconds(seconds: float, shown: str) -> None:
    # A tenant ready 0.3 s after its patch reads 0.3s, not 0s; longer times as durations
    assert format_elapsed(seconds) == shown
