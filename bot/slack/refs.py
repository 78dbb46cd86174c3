"""Names for the Slack messages rollbot must find again, and what it knows about one.

A rollout's parent message is edited on every event, its approval request when decided,
its failure choices when someone picks one; replies go into the parent's thread and the
notify line links to it. The delivery records each such message under a stable name (its
`ts` is only known once Slack answers, possibly after a restart), so the rows that need
it can wait for it by name in the journal.
"""

from __future__ import annotations

from dataclasses import dataclass

# Stands in a notify line for the thread's permalink until the parent has been posted;
# replaced in the text and blocks just before the line is sent.
LINK_SLOT = "https://rollbot.invalid/permalink-pending"


@dataclass(frozen=True)
class Ref:
    """A message Slack accepted: where it is, and the text it was posted with."""

    name: str
    channel: str
    ts: str
    text: str
    rollout_id: int | None = None
    permalink: str | None = None


def archive_link(channel: str, ts: str) -> str:
    """Slack's link to a message from its channel and ts, good in any workspace the
    reader is signed in to: what a permalink is, without asking chat.getPermalink."""
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def parent(rollout_id: int) -> str:
    return f"parent:{rollout_id}"


def plan(rollout_id: int) -> str:
    return f"plan:{rollout_id}"


def approval(rollout_id: int, gate: int) -> str:
    return f"approval:{rollout_id}:{gate}"


def failure(rollout_id: int, batch: int, attempt: int) -> str:
    """A batch can fail again after Retry failed; each failure gets its own choices."""
    return f"failure:{rollout_id}:{batch}:{attempt}"


def summary(rollout_id: int, outcome: str) -> str:
    """One summary per outcome: a completed rollout may still be rolled back later."""
    return f"summary:{rollout_id}:{outcome}"


def refused(rollout_id: int) -> str:
    return f"refused:{rollout_id}"


def remove_offer(rollout_id: int) -> str:
    return f"remove-old:{rollout_id}"


def home(user: str) -> str:
    """A person's App Home tab: not a message, but named like one so that a newer view
    replaces one still queued for them."""
    return f"home:{user}"


# --- a release's messages: its parent, a reply per step attempt, its notify lines ---------


def release_parent(release_id: int) -> str:
    return f"release:{release_id}"


def release_step(release_id: int, key: str, attempt: int, part: str) -> str:
    """A step's `part` (`finished`, `tail`, `log`) for one attempt: a step a restart runs
    again finishes again, and says so once more."""
    return f"release-{part}:{release_id}:{key}:{attempt}"


def release_deploy(release_id: int, rollout_id: int) -> str:
    return f"release-deploy:{release_id}:{rollout_id}"


def release_line(release_id: int, kind: str) -> str:
    """The release's notify line or summary of `kind` (`started`, `summary`, ...)."""
    return f"release-{kind}:{release_id}"
