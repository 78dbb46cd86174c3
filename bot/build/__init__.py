"""The release pipeline's adapters: the build subprocesses (pnpm), the work tree of a git
ref, and the Docker Engine API (image builds and pushes). They do what they are told and
report what happened; the order and the rules are :mod:`rollout.release`'s.
"""
