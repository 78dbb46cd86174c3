"""The rollout engine: the only place where effects run (see :mod:`rollout.engine.core`).

It talks to the world only through the ports of :mod:`rollout.ports`; the composition
root (``bot/runtime.py``) hands it the real adapters, tests hand it fakes or the simulator.
"""

from rollout.engine.core import Engine
from rollout.engine.wiring import Driving, EnginePorts

__all__ = ["Driving", "Engine", "EnginePorts"]
