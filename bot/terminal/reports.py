"""`rollbot status [ID]` and `rollbot history [app]`: the journal, as text to read.

Both read the journal only; they work while another process drives a rollout, and
whether or not the cluster can be reached. A status also says who is driving an active
rollout, since in a terminal that is the first question after a crash.
"""

from __future__ import annotations

from typing import TextIO

from bot.config import load_config
from bot.plain import plain
from bot.terminal.session import Journal
from bot.terminal.words import Args, now, optional_rollout_id, refusal
from handlers import render
from rollout.engine.pace import Paces
from rollout.model import Phase, Rollout
from rollout.options import show
from rollout.plan import eta

HISTORY_LIMIT = 20


def cmd_status(args: Args, out: TextIO) -> int:
    rid = optional_rollout_id(args)
    with Journal.open() as journal:
        if rid is None:
            active = journal.store.list_rollouts(active=True, limit=100)
            out.write(plain(render.status_message(active).text) + "\n")
            for r in active:
                out.write(_driver_line(journal, r))
            return 0
        rollout = journal.rollout(rid)
        paces = Paces(journal.store, parallel=journal.config.kubernetes.parallel_tenants)
        finish = eta(rollout, now=now(), pace=paces.of(rollout))
        message = render.rollout_detail(rollout, eta=finish)
        out.write(plain(message.text) + "\n")
        out.write(_driver_line(journal, rollout))
    return 0


def _driver_line(journal: Journal, rollout: Rollout) -> str:
    if not rollout.active:
        return ""
    if journal.claims.driven_elsewhere(rollout.id):
        return f"#{rollout.id}: a rollbot process is driving it.\n"
    if rollout.phase is Phase.PAUSED:
        return f"#{rollout.id}: paused; continue with rollbot resume {rollout.id}.\n"
    return (f"#{rollout.id}: no rollbot process is driving it; continue with "
            f"rollbot resume {rollout.id}.\n")


def cmd_history(args: Args, out: TextIO) -> int:
    if len(args.words) > 1:
        raise refusal("history", f"Unexpected {plain(show(args.words[1]))} after the app.")
    config = load_config()
    app = args.words[0] if args.words else None
    if app is not None and app not in config.apps:
        known = ", ".join(sorted(config.apps))
        raise refusal("history", f"Unknown app {plain(show(app))}; configured apps: {known}.")
    with Journal.open(config) as journal:
        rollouts = journal.store.list_rollouts(app=app, limit=HISTORY_LIMIT)
        out.write(plain(render.history_message(rollouts, app=app).text) + "\n")
    return 0
