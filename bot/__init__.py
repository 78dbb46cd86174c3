"""Composition root and adapters: CLI, Slack app, Kubernetes, registry, journal."""
