"""The slash commands (`/deploy`, `/rollback`): acknowledge at once, then parse, check,
and hand over. Each is one entry in :data:`COMMANDS`, at the end of this module: its
usage lines, its parser, the handler that answers, and examples for `help`.

Slack gives a slash command three seconds. The handler acks first, with nothing, and
only then does anything that can take time; every answer to the person who typed the
command goes back privately through its `response_url`. Work that changes something is
handed to the engine with the channel it was typed in, where the delivery listener then
posts its progress.

`answer()` is the whole decision, from a request to the private reply, and never raises:
a usage error, a refusal, a conflict or a bug all end as a message for the person. Every
refusal is also written to the audit log.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from handlers import render
from handlers.commands import (
    DEPLOY,
    DEPLOY_USAGE,
    ROLLBACK,
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
    parse_deploy,
    parse_rollback,
)
from handlers.edge import (
    Edge,
    Refused,
    app_spec,
    check_channel,
    load_rollout,
    require,
    sentence,
    submit,
)
from handlers.health import health_report
from handlers.release_commands import (
    RELEASE,
    RELEASE_USAGE,
    ReleaseCommand,
    parse_release_command,
)
from handlers.releases import answer_release
from handlers.respond import Asked, send_reply, settle, tracked
from rollout import errors
from rollout.actions import Action
from rollout.plan import PlanError
from rollout.policy import may_control, may_deploy, may_rollback

log = logging.getLogger(__name__)
C = TypeVar("C")
C_co = TypeVar("C_co", covariant=True)

HISTORY_LIMIT = 20
MAX_AUDITED_TEXT = 200


@dataclass(frozen=True)
class SlashRequest:
    """The fields of a slash command that matter to rollbot."""

    command: str
    text: str
    user: str
    channel: str
    response_url: str = ""

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> SlashRequest:
        return cls(
            command=str(payload.get("command") or "/deploy"),
            text=str(payload.get("text") or ""),
            user=str(payload.get("user_id") or ""),
            channel=str(payload.get("channel_id") or ""),
            response_url=str(payload.get("response_url") or ""),
        )


def register_commands(app: AsyncApp, edge: Edge) -> None:
    """Attach every slash command of :data:`COMMANDS` to the Bolt app."""

    async def on_command(ack: Any, command: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        request = SlashRequest.from_payload(command)
        message = await answer(edge, request)
        await send_reply(edge, client=client, to=request, message=message)

    for name in COMMANDS:
        app.command(name)(tracked(edge, on_command))


async def answer(edge: Edge, request: SlashRequest) -> render.Message:
    """The private reply to one slash command. Never raises."""
    slash = COMMANDS.get(request.command, COMMANDS[DEPLOY])
    asked = Asked(user=request.user, what=_audited_line(request), channel=request.channel)
    return await settle(edge, asked, _answer(edge, request, slash), failed=render.failed_command())


async def _answer(edge: Edge, request: SlashRequest, slash: SlashCommand[C]) -> render.Message:
    command = await _parse(edge, request, slash)
    if isinstance(command, render.Message):
        return command
    return await slash.answer(edge, request, command)


def _audited_line(request: SlashRequest) -> str:
    text = " ".join(request.text.split())
    if len(text) > MAX_AUDITED_TEXT:
        text = text[: MAX_AUDITED_TEXT - 1] + "…"
    return f"{request.command} {text}".strip()


async def _parse(
    edge: Edge, request: SlashRequest, slash: SlashCommand[C]
) -> C | render.Message:
    try:
        return slash.parse(request.text, apps=list(edge.apps), now=edge.now())
    except CommandError as err:
        await edge.audit(
            user=request.user,
            action=_audited_line(request),
            outcome="refused",
            detail=f"usage: {err.problem}",
            channel=request.channel,
        )
        return render.usage_error(err.reply)


async def _deploy(edge: Edge, request: SlashRequest, command: DeployCommand) -> render.Message:
    match command:
        case Help():
            return _help()
        case Status(rollout_id=None) | ListActive():
            active = await edge.call(edge.port.store.list_rollouts, active=True)
            return render.status_message(active)
        case Status(rollout_id=int(rollout_id)):
            rollout = await load_rollout(edge, rollout_id)
            return render.rollout_detail(rollout, eta=await edge.call(edge.port.eta, rollout))
        case History(app=app):
            found = await edge.call(edge.port.store.list_rollouts, app=app, limit=HISTORY_LIMIT)
            return render.history_message(found, app=app)
        case Health(app=app, tenant=tenant):
            return await _health(edge, app, tenant)
        case Control():
            return await _control(edge, request, command)
        case Deploy():
            return await _start(edge, request, command)
    raise TypeError(f"unexpected /deploy command {command!r}")


async def _rollback(
    edge: Edge, request: SlashRequest, command: RollbackCommand
) -> render.Message:
    match command:
        case Help():
            return _help()
        case RollbackRollout():
            return await _rollback_rollout(edge, request, command)
        case RollbackApp():
            return await _rollback_app(edge, request, command)
    raise TypeError(f"unexpected /rollback command {command!r}")


async def _release(edge: Edge, request: SlashRequest, command: ReleaseCommand) -> render.Message:
    if isinstance(command, Help):
        return _help()
    return await answer_release(edge, request, command)


# --- read-only answers ---------------------------------------------------------------------


async def _health(edge: Edge, app: str, tenant: str | None) -> render.Message:
    spec = app_spec(edge, app)
    cluster = edge.port.cluster
    return await edge.call(health_report, cluster, spec, health=edge.health, tenant=tenant)


# --- commands that change something --------------------------------------------------------


async def _start(edge: Edge, request: SlashRequest, command: Deploy) -> render.Message:
    check_channel(edge, request.channel)
    spec = app_spec(edge, command.app)
    await require(
        edge,
        lambda groups: may_deploy(spec, request.user, groups),
        user=request.user,
        entries=spec.deployers,
    )
    if command.options.dry_run:
        return await _dry_run(edge, command)
    try:
        rollout = await edge.call(
            edge.port.start,
            app=command.app,
            version=command.version,
            options=command.options,
            user=request.user,
            source="slack",
            channel=request.channel,
        )
    except errors.RolloutConflict as conflict:
        advice = f"wait for it to finish, or see /deploy status {conflict.active_id}."
        # the engine audits a conflict it finds while creating the rollout
        raise await _conflict_refusal(edge, conflict, advice=advice, audited=True) from None
    except (PlanError, errors.RolloutRefused) as failed:
        raise Refused(_problems(command, failed.problems), audited=True) from None
    except errors.RollbotError as exc:
        raise Refused(sentence(str(exc)), audited=True) from None
    return render.accepted(
        f"Rollout #{rollout.id} of {rollout.app} {rollout.version} accepted: "
        f"`{command_line(command)}`. Progress follows in this channel."
    )


async def _conflict_refusal(
    edge: Edge, conflict: errors.RolloutConflict, *, advice: str, audited: bool
) -> Refused:
    """The refusal for a command that met another active rollout of the app: which one
    (linked to its thread), and `advice`, what the person can do about it."""
    active = await _rollout_link(edge, conflict.active_id)
    return Refused(
        f"{conflict.app} already has an active rollout, {active}; {advice}",
        rollout_id=conflict.active_id,
        audited=audited,
    )


async def _rollout_link(edge: Edge, rollout_id: int) -> str:
    """`#41`, linked to the rollout's parent message when Slack has it."""
    try:
        where = await edge.call(edge.port.message_ref, rollout_id)
        if where is None:
            return f"#{rollout_id}"
        found = await edge.client.chat_getPermalink(channel=where[0], message_ts=where[1])
    except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
        log.info("no permalink for #%s: %s", rollout_id, exc)
        return f"#{rollout_id}"
    link = found.get("permalink")
    return f"<{link}|#{rollout_id}>" if link else f"#{rollout_id}"


def _problems(command: Deploy, problems: list[str]) -> str:
    lines = "\n".join(f"• {p}" for p in problems)
    return f"{command.app} {command.version} was not started:\n{lines}"


async def _dry_run(edge: Edge, command: Deploy) -> render.Message:
    try:
        return await edge.call(_plan, edge, command)
    except (PlanError, errors.RolloutRefused) as failed:
        raise Refused(_problems(command, failed.problems)) from None
    except errors.RollbotError as exc:
        raise Refused(sentence(str(exc))) from None


def _plan(edge: Edge, command: Deploy) -> render.Message:
    """Blocking: the plan is read from the cluster."""
    plan, estimate = edge.port.plan(command.app, command.version, command.options)
    preview = edge.port.preview(command.app, command.version, command.options, plan)
    return render.plan_message(
        preview,
        pilots=plan.pilots,
        batches=plan.batches,
        estimate=estimate,
        dry_run=True,
        checked=plan,
    )


async def _control(edge: Edge, request: SlashRequest, command: Control) -> render.Message:
    check_channel(edge, request.channel)
    rollout = await load_rollout(edge, command.rollout_id)
    spec = app_spec(edge, rollout.app)
    await require(
        edge,
        lambda groups: may_control(rollout, spec, request.user, groups, command.verb),
        user=request.user,
        entries=spec.deployers + spec.approvers,
        rollout_id=rollout.id,
    )
    await submit(edge, rollout=rollout, action=command.verb, user=request.user)
    return render.accepted(f"{command.verb.capitalize()} of #{rollout.id} requested.")


async def _rollback_rollout(
    edge: Edge, request: SlashRequest, command: RollbackRollout
) -> render.Message:
    check_channel(edge, request.channel)
    rollout = await load_rollout(edge, command.rollout_id)
    spec = app_spec(edge, rollout.app)
    await require(
        edge,
        lambda groups: may_rollback(rollout, spec, request.user, groups),
        user=request.user,
        entries=spec.deployers + spec.approvers,
        rollout_id=rollout.id,
    )
    await submit(
        edge, rollout=rollout, action=Action.ROLLBACK, user=request.user, tenants=command.tenants
    )
    scope = f" on {', '.join(command.tenants)}" if command.tenants else ""
    return render.accepted(f"Rollback of #{rollout.id}{scope} requested.")


async def _rollback_app(edge: Edge, request: SlashRequest, command: RollbackApp) -> render.Message:
    check_channel(edge, request.channel)
    spec = app_spec(edge, command.app)
    await require(
        edge,
        lambda groups: may_rollback(None, spec, request.user, groups),
        user=request.user,
        entries=spec.deployers + spec.approvers,
    )
    try:
        rollout = await edge.call(
            edge.port.rollback_app,
            app=command.app,
            to_version=command.to_version,
            tenants=command.tenants,
            user=request.user,
            channel=request.channel,
        )
    except errors.RolloutConflict as conflict:
        advice = f"roll that back with /rollback {conflict.active_id}, or cancel it first."
        # found before anything was created, so not yet audited: the edge does it
        raise await _conflict_refusal(edge, conflict, advice=advice, audited=False) from None
    except errors.RolloutRefused as failed:  # nothing to roll back: the edge audits it
        lines = "\n".join(f"• {p}" for p in failed.problems)
        raise Refused(f"Nothing was rolled back:\n{lines}") from None
    except errors.RollbotError as exc:
        raise Refused(sentence(str(exc)), audited=True) from None
    target = f" to {command.to_version}" if command.to_version else ""
    return render.accepted(
        f"Rollback of {command.app}{target} started as #{rollout.id}. "
        "Progress follows in this channel."
    )


# --- the slash commands ---------------------------------------------------------------------


class Parser(Protocol[C_co]):
    """Slash-command text -> a typed command; a refusal is a CommandError."""

    def __call__(self, text: str, *, apps: Collection[str], now: datetime) -> C_co: ...


@dataclass(frozen=True)
class SlashCommand(Generic[C]):
    """One slash command: its usage lines, how its text is read, the handler that answers
    what was read, and examples for `help`."""

    usage: str
    parse: Parser[C]
    answer: Callable[[Edge, SlashRequest, C], Awaitable[render.Message]]
    examples: tuple[str, ...] = ()


COMMANDS: Mapping[str, SlashCommand[Any]] = {
    DEPLOY: SlashCommand(
        DEPLOY_USAGE,
        parse_deploy,
        _deploy,
        examples=("/deploy isp v1.3.0 batch=5", "/deploy isp v1.3.0 dry-run", "/deploy status 42"),
    ),
    ROLLBACK: SlashCommand(ROLLBACK_USAGE, parse_rollback, _rollback, examples=("/rollback 42",)),
    RELEASE: SlashCommand(
        RELEASE_USAGE,
        parse_release_command,
        _release,
        examples=("/release v1.3.1", "/release v1.3.1 dry-run", "/release cancel R7"),
    ),
}


def _help() -> render.Message:
    return render.help_message(
        [slash.usage for slash in COMMANDS.values()],
        [example for slash in COMMANDS.values() for example in slash.examples],
    )
