"""Every message rollbot shows, as pure functions of the rollout or release.

Slack messages are the product's face, so all of their wording and layout lives here:
the parent message of a rollout, its thread replies, the notify-channel lines, and the
ephemeral answers. Each function returns a :class:`Message` whose ``text`` is a complete
plain-text rendering (Slack's notification fallback, and what the terminal prints) and
whose ``blocks`` are the Block Kit layout.

Slack's limits are respected here rather than discovered at delivery: at most 50 blocks
a message and 3,000 characters a section. Long lists (a 1,000-tenant plan, a 100-tenant
batch) are packed into sections and, past the budget, summarised with an explicit
"… and N more" line; nothing is cut silently.

Divided by kind of message: ``phrases`` (the small phrases Slack and the terminal share,
icons and :class:`Message`), ``blocks`` (Block Kit building blocks, Slack's limits, button
values, line packing), ``parent`` (the parent message), ``thread`` (the thread replies),
``people`` (what people did: their lines in the thread and the decided edits),
``health`` (answers to `/deploy health`), ``notify`` (the notify-channel lines),
``replies`` (answers to one person), ``release`` (a release's own conversation:
checklist, steps, log tails) and ``release_replies`` (answers about releases). Callers
use this package, ``render.parent_message(...)``, not the modules.
"""

from handlers.render.blocks import (
    MAX_BLOCKS,
    MAX_SECTION_CHARS,
    Block,
    button_value,
    pack_lines,
    parse_button_value,
    settles,
)
from handlers.render.health import (
    cluster_unreadable,
    fleet_health,
    health_not_found,
    judged_health,
    no_tenants,
    not_ready,
    unreadable,
)
from handlers.render.notify import NOTIFY_KINDS, notify_line
from handlers.render.parent import parent_buttons, parent_message
from handlers.render.people import (
    DONE,
    approval_counted,
    closed,
    decided,
    person_event,
    request_taken,
)
from handlers.render.phrases import (
    PHASE_ICON,
    PROGRESS_WIDTH,
    STATUS_ICON,
    Message,
    batch_name,
    clock,
    counts_line,
    image_tag,
    mentions,
    phase_line,
    progress_bar,
    rollout_ref,
    status_line,
    target_line,
    title,
    user_ref,
)
from handlers.render.release import (
    RELEASE_NOTIFY_KINDS,
    SHOWS_OUTPUT,
    checklist_line,
    deploy_running,
    log_comment,
    log_file,
    release_head,
    release_notify_line,
    release_parent,
    release_status,
    release_summary,
    release_title,
    step_finished,
    step_name,
    tail_message,
)
from handlers.render.release_replies import (
    release_accepted,
    release_detail,
    release_list,
    release_plan,
    release_stop_asked,
)
from handlers.render.replies import (
    accepted,
    failed_click,
    failed_command,
    help_message,
    history_message,
    refusal,
    restarting,
    rollout_detail,
    status_message,
    usage_error,
)
from handlers.render.thread import (
    MAX_APPROVERS_SHOWN,
    approval_request,
    auto_rollback_notice,
    batch_result_message,
    blue_green_switched,
    failure_choices,
    old_removed,
    plan_message,
    refused,
    remove_old_offer,
    rollback_result,
    summary,
)

__all__ = [
    "DONE",
    "MAX_APPROVERS_SHOWN",
    "MAX_BLOCKS",
    "MAX_SECTION_CHARS",
    "NOTIFY_KINDS",
    "PHASE_ICON",
    "PROGRESS_WIDTH",
    "RELEASE_NOTIFY_KINDS",
    "SHOWS_OUTPUT",
    "STATUS_ICON",
    "Block",
    "Message",
    "accepted",
    "approval_counted",
    "approval_request",
    "auto_rollback_notice",
    "batch_name",
    "batch_result_message",
    "blue_green_switched",
    "button_value",
    "checklist_line",
    "clock",
    "closed",
    "cluster_unreadable",
    "counts_line",
    "decided",
    "deploy_running",
    "failed_click",
    "failed_command",
    "failure_choices",
    "fleet_health",
    "health_not_found",
    "help_message",
    "history_message",
    "image_tag",
    "judged_health",
    "log_comment",
    "log_file",
    "mentions",
    "no_tenants",
    "not_ready",
    "notify_line",
    "old_removed",
    "pack_lines",
    "parent_buttons",
    "parent_message",
    "parse_button_value",
    "person_event",
    "phase_line",
    "plan_message",
    "progress_bar",
    "refusal",
    "refused",
    "release_accepted",
    "release_detail",
    "release_head",
    "release_list",
    "release_notify_line",
    "release_parent",
    "release_plan",
    "release_status",
    "release_stop_asked",
    "release_summary",
    "release_title",
    "remove_old_offer",
    "request_taken",
    "restarting",
    "rollback_result",
    "rollout_detail",
    "rollout_ref",
    "settles",
    "status_line",
    "status_message",
    "step_finished",
    "step_name",
    "summary",
    "tail_message",
    "target_line",
    "title",
    "unreadable",
    "usage_error",
    "user_ref",
]
