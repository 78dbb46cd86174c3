"""Simulators standing in for a Kubernetes API server and Slack: for demos, tests, benchmarks."""
