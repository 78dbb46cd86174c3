"""What every terminal verb opens: the configuration and the journal, and, for verbs
that move a rollout, the whole runtime with a printer and a pause detector attached.

Read-only verbs (`status`, `history`) and verbs that only queue a request (`approve`,
`reject`) never build a cluster client or start timers, so they work, and stay fast,
whether or not the cluster is reachable.

Who is at the terminal comes in two parts: the person it claims to be (`--as`,
`ROLLBOT_USER`, the login name), and the OS account the process runs as, which rollbot
records beside the person on every request and audit row it writes from here.
"""

from __future__ import annotations

import getpass
import os
import pwd
import socket
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from bot.config import Config, load_config
from bot.runtime import DriverClaims, Runtime, build_runtime, db_path
from bot.store import SqliteStore
from bot.terminal.follow import Stops
from bot.terminal.printer import Printer, no_journal_text
from bot.terminal.words import now
from rollout.actions import Action
from rollout.errors import RollbotError, UnknownRollout
from rollout.model import AppSpec, AuditEntry, InboxItem, OsAccount, Rollout


def default_user() -> str:
    """Who is at the terminal: ROLLBOT_USER (e.g. their Slack ID), else the login name."""
    try:
        login = getpass.getuser()
    except (OSError, KeyError):
        login = "unknown"
    return os.environ.get("ROLLBOT_USER") or login


def os_account() -> OsAccount:
    """The OS account this process runs as: the name of its real uid, read from the
    password database rather than $USER or $LOGNAME (which any shell can set), and the
    host name."""
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:  # containers often run with a uid no passwd file names
        name = f"uid{uid}"
    return OsAccount(user=name, host=socket.gethostname())


def request(
    rollout_id: int, action: Action, user: str, *, tenants: tuple[str, ...] | None = None
) -> InboxItem:
    """A request typed at this terminal: the person it claims, and the account it ran as."""
    return InboxItem(rollout_id=rollout_id, action=action, user=user, at=now(),
                     tenants=tenants, source="cli", os_account=os_account())


class NoJournal(RollbotError):
    """A verb that reads the journal found none where it looked."""

    def __init__(self, path: Path) -> None:
        self.path = path
        chosen = bool(os.environ.get("ROLLBOT_DB"))
        super().__init__(no_journal_text(path.absolute(), chosen_by_env=chosen))


@dataclass
class Journal:
    """The configuration and the journal, without the cluster."""

    config: Config
    store: SqliteStore
    claims: DriverClaims

    @classmethod
    def open(cls, config: Config | None = None, *, create: bool = False) -> Journal:
        """Open the journal. Only a verb that starts a rollout passes `create`: a reading
        verb run where no journal is would otherwise leave an empty one behind and then
        report that the rollout asked for does not exist."""
        config = config or load_config()
        path = db_path()
        if not create and not path.exists():
            raise NoJournal(path)
        return cls(config=config, store=SqliteStore(path), claims=DriverClaims(path))

    def close(self) -> None:
        self.claims.release_all()
        self.store.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def rollout(self, rollout_id: int) -> Rollout:
        found = self.store.get(rollout_id)
        if found is None:
            raise UnknownRollout(rollout_id)
        return found

    def app(self, name: str) -> AppSpec:
        if name not in self.config.apps:
            raise RollbotError(
                f"app {name!r} is no longer in the configuration ({self.config.source})"
            )
        return self.config.app(name)

    def audit(
        self, *, user: str, action: str, outcome: str, rollout_id: int | None, detail: str = ""
    ) -> None:
        self.store.record_audit(
            AuditEntry(
                at=now(), user=user, action=action, outcome=outcome, rollout_id=rollout_id,
                detail=detail[:1000], source="cli", os_account=os_account(),
            )
        )


@dataclass
class Session:
    """A runtime that drives rollouts in the foreground, printing as it goes."""

    runtime: Runtime
    printer: Printer
    stops: Stops = field(default_factory=Stops)

    @classmethod
    def open(
        cls,
        out: TextIO,
        *,
        config: Config | None = None,
        no_gate_for: Collection[str] = (),
        reading: bool = False,
        verbose: bool = False,
    ) -> Session:
        """`no_gate_for`: the apps whose approval gate is off for rollouts started here
        (`--auto-approve`); each rollout records that in its own settings. `reading`: the
        session only looks (a plan); it reads the journal if there is one and never
        creates it. `verbose`: print every tenant of every message."""
        config = config or load_config()
        apps: Mapping[str, AppSpec] | None = None
        if no_gate_for:
            specs = config.apps_specs()
            for name in no_gate_for:
                spec = specs[name]
                specs[name] = replace(spec, settings=replace(spec.settings, approval=False))
            apps = specs
        printer = Printer(out, held=True, verbose=verbose)
        stops = Stops()
        db = ":memory:" if reading and not db_path().exists() else None
        runtime = build_runtime(config=config, db=db, listeners=[printer, stops], apps=apps)
        return cls(runtime=runtime, printer=printer, stops=stops)

    def close(self) -> None:
        try:
            self.runtime.close()
        finally:
            self.printer.finish()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
