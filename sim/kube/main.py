"""``rollbot sim``: serve a seeded simulated cluster until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from sim.kube.harness import write_kubeconfig
from sim.kube.server import serve


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rollbot sim",
                                description="Serve the simulated Kubernetes cluster.")
    p.add_argument("--tenants", type=int, default=10, help="tenant namespaces to seed")
    p.add_argument("--kubeconfig", type=Path, required=True, help="where to write a kubeconfig")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    p.add_argument("--ready-delay", type=float, default=0.5,
                   help="seconds before a new pod is running")
    p.add_argument("--deadline-scale", type=float, default=1.0,
                   help="factor applied to progressDeadlineSeconds")
    p.add_argument("--empty-tenants", action="store_true",
                   help="tenant namespaces without the app, to install it with helm")
    return p


async def _serve(args: argparse.Namespace) -> int:
    sim = await serve(tenants=args.tenants, ready_delay=args.ready_delay,
                      deadline_scale=args.deadline_scale, port=args.port,
                      apps=not args.empty_tenants)
    try:
        write_kubeconfig(args.kubeconfig, sim.url)
        print(f"rollbot sim: {sim.url} ({args.tenants} tenants, kubeconfig {args.kubeconfig})",
              flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await sim.stop()
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.tenants < 0 or args.ready_delay < 0 or args.deadline_scale <= 0:
        print("rollbot sim: --tenants and --ready-delay must be >= 0, --deadline-scale > 0")
        return 2
    return asyncio.run(_serve(args))
