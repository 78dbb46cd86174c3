"""The App Home tab's edge: a person opened it; and which buttons each viewer gets there.

Opening the tab is handled like a command, thinly: who is looking (the user groups of
theirs that rollbot's permission lists name, asked of Slack through the group cache), then
the viewer is handed to the port, which journals their view for the outbound worker and
keeps it current as rollouts change phase. Nothing here waits on the journal or Slack's
Web API on the event loop.

The buttons a viewer gets are those the rollout's thread shows (the parent message's
Pause or Resume and Cancel, the approval request's Approve) that the click's own rule
(:func:`handlers.actions.click_policy`) would let them use. A click on one arrives as any
other click, with the same action ID and value, and is checked again then.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from slack_bolt.async_app import AsyncApp

from handlers.actions import click_policy
from handlers.edge import Edge
from handlers.render import parent_buttons
from handlers.render.home import HOME_ACTIONS
from handlers.respond import tracked
from rollout.actions import Action
from rollout.model import AppSpec, Phase, Rollout
from rollout.policy import group_ids

log = logging.getLogger(__name__)


def register_home(app: AsyncApp, edge: Edge) -> None:
    """Attach the `app_home_opened` event to the Bolt app."""

    async def on_home_opened(event: Mapping[str, Any]) -> None:
        user = str(event.get("user") or "")
        if event.get("tab", "home") != "home" or not user:
            return  # the Messages tab, or nobody to show it to
        member_of = await viewer_groups(edge, user)
        try:
            await edge.call(edge.port.home_opened, user, member_of)
        except Exception:
            log.exception("could not queue the Home tab of %s", user)

    app.event("app_home_opened")(tracked(edge, on_home_opened))


async def viewer_groups(edge: Edge, user: str) -> frozenset[str]:
    """The user groups named in any app's deployers or approvers that `user` is in. A group
    Slack could not answer for counts as not theirs: a button too few on the tab, never
    one too many (a click is checked again anyway)."""
    named = group_ids([e for spec in edge.apps.values() for e in (*spec.deployers,
                                                                  *spec.approvers)])
    if not named:
        return frozenset()
    found = await edge.groups.memberships(user, named)
    if found.failed is not None:
        log.warning("Home tab of %s drawn without group %s: %s", user, found.failed.group,
                    found.failed.reason)
    return found.member_of


def home_buttons(
    rollout: Rollout, spec: AppSpec, user: str, groups: frozenset[str]
) -> tuple[Action, ...]:
    """The buttons `user` may click on `rollout` from the Home tab."""
    offered = {Action.from_button(str(b["action_id"])) for b in parent_buttons(rollout)}
    if rollout.phase is Phase.AWAITING_APPROVAL:
        offered.add(Action.APPROVE)
    return tuple(
        action for action in HOME_ACTIONS
        if action in offered and click_policy(action, rollout, spec, user)(groups).allowed
    )
