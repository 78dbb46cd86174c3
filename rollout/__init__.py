"""The rollout domain: plans, the state machine, policy and health verdicts.

Nothing in this package performs I/O. Adapters in ``bot/`` do that through the
protocols in :mod:`rollout.ports`; the import-linter contract in pyproject.toml keeps it so.
"""
