"""Buttons: Approve, Reject, Pause, Resume, Cancel, Roll back, Retry, Skip, Remove old,
and a release's Stop (answered by :mod:`handlers.releases`).

A button carries only `<rollout_id>[:<gate>]`; who may click it and whether it still means
anything is decided from the journal at click time, so buttons on messages posted before
a restart work the same as new ones. The click is acked first; the checks and the engine
call come after.

A click that changes nothing (a second click, a click on a finished rollout, a person the
policy refuses) gets a private answer saying why and is written to the audit log. A click
that settles an approval request or a failure's choices edits that message in place to
say who did what and when, and removes its buttons. Clicks on one rollout are handled one
at a time, so two quick clicks cannot both pass the same check.

The same buttons appear on the App Home tab (:mod:`handlers.home`); a click there comes in
a view, with no channel or message, and goes through the same checks and engine request.
Its answer goes to the clicker's DM with rollbot (:func:`handlers.respond.send_reply`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from handlers import render
from handlers.edge import Edge, Refused, app_spec, load_rollout, require, submit
from handlers.releases import stop_clicked
from handlers.respond import Asked, send_reply, settle, tracked
from rollout.actions import CHOICES, CONTROLS, DECISIONS, RELEASE_ACTIONS, Action
from rollout.model import AppSpec, Phase, Rollout
from rollout.policy import Decision, may_approve, may_control, may_rollback

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Click:
    """One button click, as much of Slack's block_actions payload as rollbot reads."""

    action_id: str
    value: str
    user: str
    channel: str
    message_ts: str
    message_text: str
    block_id: str
    response_url: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Click:
        actions = body.get("actions") or [{}]
        action = actions[0] if isinstance(actions[0], dict) else {}
        message = body.get("message") or {}
        container = body.get("container") or {}
        channel = body.get("channel") or {}
        return cls(
            action_id=str(action.get("action_id") or ""),
            value=str(action.get("value") or ""),
            user=str((body.get("user") or {}).get("id") or ""),
            channel=str(channel.get("id") or container.get("channel_id") or ""),
            message_ts=str(message.get("ts") or container.get("message_ts") or ""),
            message_text=str(message.get("text") or ""),
            block_id=str(action.get("block_id") or ""),
            response_url=str(body.get("response_url") or ""),
        )

    @property
    def action(self) -> Action | None:
        return Action.from_button(self.action_id)

    @property
    def settles_message(self) -> bool:
        return render.settles(self.block_id)


@dataclass(frozen=True)
class ClickAnswer:
    """`private` goes to the clicker only; `decided`: the clicked message is settled and
    is edited to say who did what, its buttons removed."""

    private: render.Message | None = None
    decided: bool = False


def register_actions(app: AsyncApp, edge: Edge) -> None:
    """Attach every rollbot button to the Bolt app."""

    async def on_click(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        click = Click.from_body(body)
        result = await answer_click(edge, click)
        if result.decided:
            await _mark_decided(edge, click, client=client)
        if result.private is not None:
            await send_reply(edge, client=client, to=click, message=result.private)

    for action in Action:
        app.action(action.button_id)(tracked(edge, on_click))


async def answer_click(edge: Edge, click: Click) -> ClickAnswer:
    """Check and carry out one click. Never raises."""
    what = f"button {click.action or click.action_id} {click.value}".strip()
    asked = Asked(user=click.user, what=what, channel=click.channel)
    answered = await settle(edge, asked, _answer(edge, click), failed=render.failed_click())
    return answered if isinstance(answered, ClickAnswer) else ClickAnswer(private=answered)


async def _answer(edge: Edge, click: Click) -> ClickAnswer:
    if click.action in RELEASE_ACTIONS:
        return ClickAnswer(private=await stop_clicked(edge, value=click.value, user=click.user))
    rollout_id, gate = _target(click)
    async with edge.lock(rollout_id):
        return await _carry_out(edge, click, rollout_id=rollout_id, gate=gate)


def _target(click: Click) -> tuple[int, int | None]:
    if click.action is None:
        raise Refused("That button is not one of rollbot's.")
    try:
        return render.parse_button_value(click.value)
    except ValueError:
        reason = "That button does not name a rollout; it may be from an old message."
        raise Refused(reason) from None


async def _carry_out(edge: Edge, click: Click, *, rollout_id: int, gate: int | None) -> ClickAnswer:
    rollout = await load_rollout(edge, rollout_id)
    spec = app_spec(edge, rollout.app)
    action = click.action
    assert action is not None  # _target refused the rest
    if action in DECISIONS:
        _check_gate(rollout, gate)
    await require(
        edge,
        click_policy(action, rollout, spec, click.user),
        user=click.user,
        entries=spec.deployers + spec.approvers,
        rollout_id=rollout.id,
    )
    await submit(edge, rollout=rollout, action=action, user=click.user)
    return _settled(click, action, rollout=rollout, gate=gate)


def _check_gate(rollout: Rollout, gate: int | None) -> None:
    """An approval request is for one gate; once decided, its buttons mean nothing."""
    if gate is None:
        return
    decided = [a for a in rollout.approvals if a.gate == gate and a.decision == Action.REJECT]
    if decided:
        raise Refused(
            f"This approval request of #{rollout.id} was already rejected by "
            f"{render.user_ref(decided[0].user)}.",
            rollout_id=rollout.id,
        )


def click_policy(
    action: Action, rollout: Rollout, spec: AppSpec, user: str
) -> Callable[[frozenset[str]], Decision]:
    """The rule for one action; the engine checks the phase again when it applies it."""
    if action in DECISIONS:
        # The same people decide a gate either way; four-eyes keeps the requester out of
        # both, and Cancel remains theirs.
        return lambda groups: may_approve(rollout, spec, user, groups)
    if action in CONTROLS:
        return lambda groups: may_control(rollout, spec, user, groups, action)
    if action is Action.ROLLBACK:
        return lambda groups: may_rollback(rollout, spec, user, groups)
    if action in CHOICES:
        return lambda groups: _after_failure(rollout, spec, user, groups)
    # Removing the old side happens after completion, so it follows who may roll the app
    # back.
    return lambda groups: may_rollback(None, spec, user, groups)


def _after_failure(rollout: Rollout, spec: AppSpec, user: str, groups: frozenset[str]) -> Decision:
    decision = may_control(rollout, spec, user, groups, Action.RESUME)
    if decision.allowed and rollout.phase is not Phase.PAUSED:
        return Decision.deny(
            f"#{rollout.id} is not waiting for a choice (it is {rollout.phase.label})"
        )
    return decision


def _settled(click: Click, action: Action, *, rollout: Rollout, gate: int | None) -> ClickAnswer:
    """What the clicker sees once the engine took the request."""
    if action is Action.APPROVE:
        approved = {
            a.user for a in rollout.approvals if a.decision == Action.APPROVE and a.gate == gate
        }
        count = len(approved | {click.user})
        needed = rollout.settings.approvals_required
        if count < needed:
            return ClickAnswer(private=render.approval_counted(rollout, count=count, needed=needed))
    if click.settles_message:
        return ClickAnswer(decided=True)
    return ClickAnswer(private=render.request_taken(rollout, action))


async def _mark_decided(edge: Edge, click: Click, *, client: AsyncWebClient) -> None:
    """Through the delivery's journal when there is one (it edits each message once, in
    order with everything else it posts), else by replacing the message directly."""
    action, at = click.action, edge.now()
    assert action is not None  # only a click the engine took is marked decided
    try:
        marked = await edge.call(
            edge.port.mark_decided,
            channel=click.channel,
            ts=click.message_ts,
            user=click.user,
            action=action,
            at=at,
        )
    except Exception:
        log.exception("could not mark %s/%s decided", click.channel, click.message_ts)
        return
    if not marked and click.message_text:
        edited = render.decided(click.message_text, user=click.user, action=action, at=at)
        await send_reply(edge, client=client, to=click, message=edited, replace=True)
