"""A simulated Kubernetes API server with a Deployment controller, for demos and tests.

It speaks enough of the real API (JSON only) for the official ``kubernetes`` client and
``kubectl`` 1.32: CRUD, three patch flavours, watches, discovery, pod logs and proxy,
access reviews. Start one with ``sim.kube.harness.start_sim`` (background thread) or
``sim.kube.server.serve`` (inside a running loop), or ``rollbot sim`` from a shell.
"""
