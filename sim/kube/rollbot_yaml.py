"""The rollbot configuration that fits the simulated cluster, written beside its kubeconfig.

The configuration rollbot ships with describes a real fleet: images in a private
registry that a fresh machine cannot reach, a 30-minute pilot watch and a minute between
batches. Against `rollbot sim` that first `rollbot deploy` was refused and `plan`
promised the better part of an hour. `rollbot sim` therefore writes a `rollbot.yaml`
next to its kubeconfig (never over one that is there), so the README's session works
as printed from that folder: the simulated images need no registry check, the waits
take seconds, and alice (`U0ALICE`) deploys while bob (`U0BOB`) approves.

The simulators stand apart from the product, so this is the text of a config file, not
rollbot's own types; the README's session test reads it back through rollbot.
"""

from __future__ import annotations

from pathlib import Path

ROLLBOT_YAML = """\
# Written by `rollbot sim` for the simulated cluster whose kubeconfig is beside it.
# rollbot reads ./rollbot.yaml from the folder it runs in; delete this file, or start
# the sim with --no-config, to use your own.
slack:
  release_channels: []
registry:
  verify_images: false       # the simulated images are in no registry to ask
apps:
  admin:
    strategy: blue-green
    image: 123456789.dkr.ecr.us-east-1.amazonaws.com/dotmac/platform-admin-app
    namespace: platform-admin
    deployment: platform-admin-app
    service: platform-admin-app
    container: frontend
    config_map: platform-admin-config
    monitor: 5s
    approval: false
    deployers: [U0ALICE, U0BOB]
    approvers: [U0BOB, U0ALICE]
  isp:
    strategy: rolling
    image: 123456789.dkr.ecr.us-east-1.amazonaws.com/dotmac/isp-ops-app
    tenant_selector: app.kubernetes.io/component=tenant
    deployment: isp-ops-app
    container: frontend
    batch: 4
    wait: 2s
    pilot: 2
    pilot_monitor: 3s
    rollout_timeout: 1m
    approval: true
    approvals_required: 1
    four_eyes: true
    approval_timeout: 1h
    auto_rollback: false
    deployers: [U0ALICE, U0BOB]
    approvers: [U0BOB, U0ALICE, U0CAROL]
    # The guide's versioning strategy: a patch goes out with one pilot and no gate, a
    # minor as above, a major to every tenant at once, scheduled, with two approvals.
    versions:
      patch: {pilot: 1, approval: false}
      minor: {pilot: 2, approval: true}
      major: {pilot: 0, batch: 100%, approvals_required: 2, window: required}
"""


def write_beside(kubeconfig: Path) -> str:
    """Write `rollbot.yaml` in the kubeconfig's folder unless one is there; say which."""
    path = kubeconfig.parent / "rollbot.yaml"
    if path.exists():
        return f"kept the {path} already there"
    path.write_text(ROLLBOT_YAML, encoding="utf-8")
    return f"wrote {path} to match it"
