"""Simulators that stand in for a Kubernetes API server and Slack, for demos, tests and benchmarks."""
