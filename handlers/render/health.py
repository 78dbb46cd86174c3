"""`/deploy health`: one side or tenant judged in full, or which versions a fleet runs.

What was read (a deployment, a verdict, the versions found) comes in as values; these
functions only say it. A long list of tenants that need a look ends with "… and N more".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from handlers.render.blocks import MAX_SECTION_CHARS, section
from handlers.render.phrases import Message
from handlers.render.replies import refusal
from rollout.health import Verdict
from rollout.ports import DeploymentInfo

SHOWN = 10  # tenants named in a fleet's summary before "and N more"


def judged_health(
    *, namespace: str, name: str, info: DeploymentInfo, version: str, verdict: Verdict
) -> Message:
    """One tenant or blue-green side: healthy with its error rate, or every reason not."""
    where = f"{namespace}/{name} ({version}, {info.ready_replicas}/{info.replicas} ready)"
    if verdict.healthy:
        rate = "" if verdict.error_rate is None else f", error rate {verdict.error_rate:.1%}"
        return _note(f"✅ {where}: healthy{rate}")
    reasons = "\n".join(f"• {r}" for r in verdict.reasons)
    return _note(f"❌ {where}: unhealthy\n{reasons}")


def fleet_health(
    app: str, *, tenants: int, versions: Mapping[str, int], trouble: Sequence[str]
) -> Message:
    """A whole fleet: how many tenants run which version, and the ones that need a look
    (`trouble`: one line each)."""
    running = ", ".join(f"{v} ×{n}" for v, n in sorted(versions.items()))
    lines = [f"*{app}*: {tenants} tenants · {running or 'nothing readable'}"]
    if trouble:
        lines.append(f"{len(trouble)} need a look:")
        lines += [f"• {t}" for t in trouble[:SHOWN]]
        if len(trouble) > SHOWN:
            lines.append(f"… and {len(trouble) - SHOWN} more")
    else:
        lines.append("Every tenant is fully ready; `/deploy health <app> <tenant>` looks closer.")
    return _note("\n".join(lines))


def no_tenants(selector: str) -> Message:
    return _note(f"No tenants match {selector}.")


def not_ready(namespace: str, info: DeploymentInfo) -> str:
    """A fleet's line for a tenant whose pods are not all ready."""
    return f"{namespace}: {info.ready_replicas}/{info.replicas} ready"


def unreadable(namespace: str, problem: str) -> str:
    """A fleet's line for a tenant whose deployment could not be read."""
    return f"{namespace}: {problem}"


def health_not_found(problem: str) -> Message:
    return refusal(f"Not found: {problem}")


def cluster_unreadable(problem: str) -> Message:
    return refusal(f"The cluster could not be read: {problem}")


def _note(text: str) -> Message:
    body = text if len(text) <= MAX_SECTION_CHARS else text[: MAX_SECTION_CHARS - 1]
    return Message(text=text, blocks=(section(body),))
