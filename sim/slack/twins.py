"""One definition, two ways to call it: the blocking and `*_async` forms of `SlackHandle`.

The handle serves plain test code and coroutines alike. A blocking call is refused inside a
running event loop (the bot may share that loop and could then never answer); the async
form never blocks its caller's loop. Writing each method twice let the pair drift apart, so
each piece of work is written once, as a private method, and both public forms are made
from it here:

- `on_loop_blocking` / `on_loop_async`: the private method builds a coroutine that runs on
  the stand-in's own loop; the blocking form waits for it a little beyond its `timeout`.
- `wait_blocking` / `wait_async`: the private method is itself a bounded blocking wait; the
  async form runs it on a worker thread.

The public name is the private one without its leading underscore.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
T = TypeVar("T")
S = TypeVar("S")
L = TypeVar("L", bound="OnLoop")

SLACK = 5.0  # extra seconds a blocking call waits beyond the action's own timeout


class OnLoop(Protocol):
    """What owns the stand-in's loop (the handle)."""

    _loop: asyncio.AbstractEventLoop


def refuse_inside_loop(name: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(f"{name}() blocks; from a coroutine use {name}_async()")


def _public_name(private: Callable[..., Any]) -> str:
    return private.__name__.lstrip("_")


def _rename(twin: Callable[..., Any], private: Callable[..., Any], *, suffix: str = "") -> None:
    """Tracebacks and help() show the public name, not the private one it was made from."""
    name = _public_name(private) + suffix
    owner = private.__qualname__.rpartition(".")[0]
    twin.__name__ = name
    twin.__qualname__ = f"{owner}.{name}" if owner else name


def _timeout_of(build: Callable[..., Any]) -> Callable[..., float]:
    """Reads the `timeout` a call passes, or the default it gets, without running it."""
    signature = inspect.signature(build)

    def read(*args: Any, **kwargs: Any) -> float:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return float(bound.arguments["timeout"])

    return read


def on_loop_blocking(
    build: Callable[Concatenate[L, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[L, P], T]:
    name = _public_name(build)
    timeout_of = _timeout_of(build)

    @functools.wraps(build)
    def run(self: L, /, *args: P.args, **kwargs: P.kwargs) -> T:
        refuse_inside_loop(name)
        deadline = timeout_of(self, *args, **kwargs) + SLACK
        future = asyncio.run_coroutine_threadsafe(build(self, *args, **kwargs), self._loop)
        return future.result(deadline)

    _rename(run, build)
    return run


def on_loop_async(
    build: Callable[Concatenate[L, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[L, P], Coroutine[Any, Any, T]]:
    @functools.wraps(build)
    async def run(self: L, /, *args: P.args, **kwargs: P.kwargs) -> T:
        coro = build(self, *args, **kwargs)
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    _rename(run, build, suffix="_async")
    return run


def wait_blocking(wait: Callable[Concatenate[S, P], T]) -> Callable[Concatenate[S, P], T]:
    name = _public_name(wait)

    @functools.wraps(wait)
    def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        refuse_inside_loop(name)
        return wait(self, *args, **kwargs)

    _rename(run, wait)
    return run


def wait_async(
    wait: Callable[Concatenate[S, P], T],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, T]]:
    @functools.wraps(wait)
    async def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(wait, self, *args, **kwargs)

    _rename(run, wait, suffix="_async")
    return run
