"""A registry for the demo's images, so preflight's tag check runs for real.

The demo's images are named as in production (`123456789.dkr.ecr...`), and no such
registry is reachable from here. Instead of turning the check off, the demo serves a tiny
Registry v2 stand-in on 127.0.0.1 that knows the tags the demo uses, and hands the engine
a `MirroredRegistry`: the real `RegistryClient`, with the production host swapped for the
stand-in's address. The HEAD request, headers and verdicts are the product's own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiohttp import web

from bot.registry import MANIFEST_MEDIA_TYPES, RegistryClient

MANIFEST_TYPE = MANIFEST_MEDIA_TYPES[2]  # a Docker v2 manifest, what ECR serves for these


def _digest(repository: str, tag: str) -> str:
    return "sha256:" + hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest()


def _not_found(repository: str, tag: str) -> web.Response:
    body = {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown",
                        "detail": {"name": repository, "tag": tag}}]}
    return web.json_response(body, status=404)


class RegistryStandIn:
    """`HEAD|GET /v2/<repository>/manifests/<tag>`: 200 for the known tags, else 404."""

    def __init__(self, tags: Mapping[str, Iterable[str]]) -> None:
        self.tags = {repo: frozenset(known) for repo, known in tags.items()}
        self.asked: list[str] = []
        self._runner: web.AppRunner | None = None
        self.address = ""

    async def start(self) -> str:
        """Serve on a free port of 127.0.0.1; returns `127.0.0.1:PORT`."""
        app = web.Application()
        app.router.add_get("/v2/", self._base)
        app.router.add_route("*", "/v2/{repository:.+}/manifests/{tag}", self._manifest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.address = f"127.0.0.1:{port}"
        return self.address

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _base(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _manifest(self, request: web.Request) -> web.Response:
        repository, tag = request.match_info["repository"], request.match_info["tag"]
        if request.method not in ("HEAD", "GET"):
            return web.Response(status=405)
        self.asked.append(f"{repository}:{tag}")
        if tag not in self.tags.get(repository, frozenset()):
            return _not_found(repository, tag)
        manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_TYPE}).encode()
        headers = {"Docker-Content-Digest": _digest(repository, tag),
                   "Content-Type": MANIFEST_TYPE}
        return web.Response(body=manifest, headers=headers)


@dataclass(frozen=True)
class MirroredRegistry:
    """The Registry port, asking `mirror` about images named under `host`."""

    client: RegistryClient
    host: str
    mirror: str

    @classmethod
    def to(cls, mirror: str, *, host: str) -> MirroredRegistry:
        return cls(RegistryClient(insecure_hosts=[mirror], timeout=5.0), host, mirror)

    def image_exists(self, image: str, tag: str) -> bool:
        name = image.removeprefix(f"{self.host}/") if image.startswith(f"{self.host}/") else None
        return self.client.image_exists(f"{self.mirror}/{name}" if name else image, tag)
