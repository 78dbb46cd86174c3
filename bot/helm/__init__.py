"""The Helm adapter: `strategy: helm` apps are moved by a real `helm` binary.

See :mod:`bot.helm.cli` for why a subprocess, and :mod:`bot.helm.binary` for where the
binary comes from on a machine with no internet but the package registries.
"""

from bot.helm.cli import HelmCli, HelmError, ReleaseNotFound

__all__ = ["HelmCli", "HelmError", "ReleaseNotFound"]
