"""`/release` and a release's Stop button: check, hand to the release pipeline, answer.

Like `/deploy`: the words are checked first (a usage reply for anything else, and nothing
starts), then the channel and the person (a deployer of every app in the release, and with
skip-checks an approver of every app too), then
the pipeline is asked through the edge's port, off the event loop. A release's progress
is not answered here: the Slack delivery posts its checklist in the channel.

Stop, on the checklist or as `/release cancel <ID>`, is for the requester and for whoever
may steer each of its deploys (:func:`rollout.policy.may_stop_release`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers import render
from handlers.edge import Edge, Refused, app_spec, check_channel, require, sentence
from handlers.release_commands import (
    CancelRelease,
    ListReleases,
    ReleaseAsk,
    ReleaseStatus,
    StartRelease,
    parse_release_id,
    release_line,
)
from rollout import errors
from rollout.model import AppSpec
from rollout.options import UsageError
from rollout.policy import may_release, may_stop_release
from rollout.release import Release, ReleaseRequest
from rollout.release.errors import ReleaseConflict, ReleaseError

if TYPE_CHECKING:
    from handlers.ports import ReleasePort
    from handlers.slash import SlashRequest

LIST_LIMIT = 10


async def answer_release(
    edge: Edge, request: SlashRequest, command: ReleaseAsk
) -> render.Message:
    """Every /release verb but help, which `/deploy help` shares (see handlers.slash)."""
    match command:
        case ReleaseStatus(release_id=None):
            latest = await edge.call(_port(edge).list_releases, limit=1)
            return render.release_detail(latest[0]) if latest else render.release_list([])
        case ReleaseStatus(release_id=int(release_id)):
            return render.release_detail(await _release(edge, release_id))
        case ListReleases():
            found = await edge.call(_port(edge).list_releases, limit=LIST_LIMIT)
            return render.release_list(found)
        case CancelRelease(release_id=release_id):
            check_channel(edge, request.channel)
            return await stop(edge, release_id, user=request.user)
        case StartRelease(request=asked):
            return await _start(edge, request, asked)
    raise TypeError(f"unexpected /release command {command!r}")


async def stop_clicked(edge: Edge, *, value: str, user: str) -> render.Message:
    """The Stop button of a release's checklist; its value is the release ID."""
    try:
        release_id = parse_release_id(value)
    except UsageError:
        reason = "That button does not name a release; it may be from an old message."
        raise Refused(reason) from None
    return await stop(edge, release_id, user=user)


async def stop(edge: Edge, release_id: int, *, user: str) -> render.Message:
    release = await _release(edge, release_id)
    apps = _specs(edge, release.apps)
    await require(
        edge,
        lambda groups: may_stop_release(release, apps, user, groups),
        user=user,
        entries=tuple(e for a in apps for e in (*a.deployers, *a.approvers)),
    )
    try:
        stopped = await edge.call(_port(edge).cancel, release_id, user=user, source="slack")
    except ReleaseError as err:
        raise Refused(sentence(str(err))) from None
    return render.release_stop_asked(stopped, user=user)


async def _start(edge: Edge, request: SlashRequest, asked: ReleaseRequest) -> render.Message:
    check_channel(edge, request.channel)
    apps = _specs(edge, asked.apps if asked.apps is not None else tuple(edge.apps))
    groups = await require(
        edge,
        lambda member_of: may_release(apps, request.user, member_of,
                                      skip_checks=asked.skip_checks),
        user=request.user,
        entries=tuple(e for a in apps
                      for e in (*a.deployers, *(a.approvers if asked.skip_checks else ()))),
    )
    port = _port(edge)
    if asked.dry_run:
        plan = await edge.call(port.plan, asked, user=request.user, groups=groups)
        deploys = {app: render.plan_message(d.preview, pilots=d.plan.pilots,
                                            batches=d.plan.batches, dry_run=True,
                                            estimate=d.estimate)
                   for app, d in plan.deploys.items()}  # fmt: skip
        return render.release_plan(plan, deploys=deploys)
    try:
        started = await edge.call(port.start, asked, user=request.user, groups=groups,
                                  source="slack", channel=request.channel)
    except ReleaseConflict as conflict:  # the pipeline audited it
        raise Refused(f"Release R{conflict.active_id} is still running; one release runs at a "
                      f"time. See it with /release status R{conflict.active_id}.",
                      audited=True) from None
    except errors.RollbotError as err:
        raise Refused(sentence(str(err)), audited=True) from None
    return render.release_accepted(started, command=release_line(asked), where="in this channel")


async def _release(edge: Edge, release_id: int | None) -> Release:
    try:
        return await edge.call(_port(edge).status, release_id)
    except ReleaseError as err:
        raise Refused(sentence(str(err))) from None


def _port(edge: Edge) -> ReleasePort:
    port = edge.port.releases
    if port is None:
        raise Refused("This rollbot runs no release pipeline.")
    return port


def _specs(edge: Edge, names: tuple[str, ...]) -> list[AppSpec]:
    return [app_spec(edge, name) for name in names]

