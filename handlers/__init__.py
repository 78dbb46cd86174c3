"""The Slack edge: parse, validate, authorize and enqueue. Never talks to Kubernetes."""
