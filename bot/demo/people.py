"""The demo's people acting through Slack: typing slash commands and clicking buttons,
sent by the stand-in as signed requests to the bot, and the waits between their moves.

Every wait is on something a person in the channel would wait for (a button appearing,
a private reply) or on the engine's own events, re-checked whenever the stand-in or the
engine reports a change, and bounded so a stuck step fails with a sentence instead of
hanging.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from bot.demo.printer import Printer
from bot.demo.world import CHANNELS, RELEASES, Stage
from handlers import render
from rollout.model import Phase, Rollout
from sim.slack.records import Ephemeral, JsonDict, Message

T = TypeVar("T")
SETTLE_LIMIT = 20.0  # seconds the demo waits for rollbot's queued messages to go out


class StepFailed(Exception):
    """A step did not have the expected outcome; the message says what happened instead."""


def ended_badly(rollout: Rollout, *, expected: str) -> StepFailed:
    why = f" ({rollout.reason})" if rollout.reason else ""
    verb = "ended" if rollout.phase.terminal else "is"
    return StepFailed(f"#{rollout.id} of {rollout.app} {verb} {rollout.phase.label}{why}, "
                      f"but the script expected it {expected}")


def _buttons(msg: Message) -> Iterator[JsonDict]:
    for block in msg.blocks:
        if block.get("type") == "actions":
            yield from (e for e in block.get("elements", []) if e.get("type") == "button")
        accessory = block.get("accessory")
        if isinstance(accessory, dict) and accessory.get("type") == "button":
            yield accessory


def _for_rollout(button: JsonDict, rollout_id: int) -> bool:
    try:
        return render.parse_button_value(str(button.get("value", "")))[0] == rollout_id
    except ValueError:
        return False


def find_button(messages: list[Message], rollout_id: int, *, action_id: str,
                beside: str | None = None) -> Message | None:
    """The newest message with `action_id` for the rollout (and `beside` in it too, which
    tells the failure choices' Roll back all from the parent message's Roll back)."""
    for msg in reversed(messages):
        ours = [b for b in _buttons(msg) if _for_rollout(b, rollout_id)]
        actions = {str(b.get("action_id")) for b in ours}
        if action_id in actions and (beside is None or beside in actions):
            return msg
    return None


@dataclass
class People:
    """Alice, Bob and the rest, as the demo moves them."""

    world: Stage
    out: Printer
    timeout: float  # the most any single wait may take

    async def type(self, user: str, text: str, *, command: str = "/deploy") -> None:
        await self.settle()
        self.out.narrate(f"{self.out.who(user)} types “{command} {text}” in #releases")
        sent = await self.world.slack.send_slash_command_async(
            self.world.events_url, text=text, user_id=user, channel_id=RELEASES,
            command=command)
        if sent.status != 200:
            raise StepFailed(f"rollbot answered HTTP {sent.status} to “{command} {text}”")

    async def click(self, user: str, msg: Message, *, action_id: str, label: str,
                    why: str = "") -> None:
        await self.settle()
        self.out.narrate(f"{self.out.who(user)} clicks [{label}]{f' {why}' if why else ''}")
        sent = await self.world.slack.send_block_action_async(
            self.world.events_url, action_id=action_id, user_id=user, message_ts=msg.ts,
            channel_id=msg.channel)
        if sent.status != 200:
            raise StepFailed(f"rollbot answered HTTP {sent.status} to a click on [{label}]")

    # --- waiting ----------------------------------------------------------------------------

    async def new_rollout(self, app: str, *, known: set[int], user: str) -> Rollout:
        """The rollout the last command started; explains what rollbot said when none did."""

        def started() -> Rollout | None:
            fresh = [r for r in self.world.watch.rollouts() if r.app == app and r.id not in known]
            return fresh[-1] if fresh else None

        try:
            return await self.world.changes.until(started, limit=self.timeout,
                                                  what=f"a rollout of {app} to start")
        except TimeoutError as exc:
            said = self.world.slack.ephemerals(user)
            last = f" rollbot's last reply to {user}: {said[-1].text}" if said else ""
            raise StepFailed(f"{exc}.{last}") from None

    async def phase(self, rollout_id: int, phases: set[Phase], *, what: str) -> Rollout:
        """Until the rollout reaches one of `phases` or ends."""

        def reached() -> Rollout | None:
            latest = self.world.watch.latest(rollout_id)
            if latest is not None and (latest.phase in phases or not latest.active):
                return latest
            return None

        return await self.until(reached, what=what)

    async def button(self, rollout_id: int, action_id: str, *, what: str,
                     beside: str | None = None, ends_ok: frozenset[Phase] = frozenset()
                     ) -> Message:
        """The message offering `action_id` for the rollout; StepFailed when the rollout
        ends first (in a phase not in `ends_ok`), since then the button never comes."""

        def shown() -> Message | Rollout | None:
            latest = self.world.watch.latest(rollout_id)
            if latest is not None and latest.phase.terminal and latest.phase not in ends_ok:
                return latest
            for channel in CHANNELS:
                messages = self.world.slack.messages(channel, include_replies=True)
                found = find_button(messages, rollout_id, action_id=action_id, beside=beside)
                if found is not None:
                    return found
            return None

        found: Message | Rollout = await self.until(shown, what=what)
        if isinstance(found, Rollout):
            raise ended_badly(found, expected=f"to offer {what}")
        return found

    async def ephemeral(self, user: str, *, after: int, what: str) -> Ephemeral:
        def said() -> Ephemeral | None:
            replies = self.world.slack.ephemerals(user)
            return replies[after] if len(replies) > after else None

        return await self.until(said, what=what)

    async def settle(self) -> None:
        """Let rollbot finish saying what it queued (it posts at most once a second to a
        channel), so the next step's lines do not interleave with this one's."""
        delivery = self.world.server.delivery
        if delivery is None:
            return
        deadline = asyncio.get_running_loop().time() + SETTLE_LIMIT
        # Short bounded flushes, so Ctrl-C never waits on a long one in a thread.
        while not await asyncio.to_thread(delivery.flush, 0.25):
            if asyncio.get_running_loop().time() > deadline:
                return

    async def until(self, found: Callable[[], T | None], *, what: str) -> T:
        try:
            return await self.world.changes.until(found, limit=self.timeout, what=what)
        except TimeoutError as exc:
            raise StepFailed(str(exc)) from None
