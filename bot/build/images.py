"""Image builds and pushes through the Docker Engine API (the `docker` SDK, not the CLI).

The engine is the one ``DOCKER_HOST`` names, as every Docker tool finds it. Builds use the
low-level ``APIClient.build``: its JSON progress is streamed line by line into the step's
log. The app's image is built with the build argument ``VERSION``, then a second, one-step
build of rollbot's own sets the OCI labels version, revision and created on it and tags
it, so the tag only ever names the labelled image. Each build and push gets a client of its
own, so the apps' images build at the same time on separate connections.

A stop, or the step's timeout, shuts the socket the progress is read from: the read ends
at once, and the engine, seeing its client gone, abandons the build. This is why a
requests response hook keeps hold of the build's response; the SDK gives no other handle
on the connection while its generator is being read.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import docker
import requests
import urllib3
from docker.errors import DockerException
from docker.utils import kwargs_from_env

from bot.build.stop import Stop
from rollout.images import parse_image_ref

PING_TIMEOUT = 10.0
OCI = "org.opencontainers.image"
# What an engine says when a registry refused its login, in the words of several versions.
# What reading the engine's answers can raise; a cut stream ends in urllib3's own errors.
_FAILURES = (DockerException, requests.RequestException, urllib3.exceptions.HTTPError,
             http.client.HTTPException, OSError)
_AUTH_WORDS = ("unauthorized", "authentication required", "no basic auth credentials",
               "denied")


@dataclass(frozen=True)
class Built:
    ok: bool
    reason: str = ""
    image_id: str = ""


@dataclass(frozen=True)
class ImageBuild:
    """One app's image: the paths are inside the work tree."""

    context: Path
    dockerfile: Path
    tag: str  # repository:version
    version: str
    revision: str = ""
    args: tuple[tuple[str, str], ...] = ()

    def labels(self, *, now: datetime) -> dict[str, str]:
        return {
            f"{OCI}.version": self.version,
            f"{OCI}.revision": self.revision or "unknown",
            f"{OCI}.created": now.astimezone(UTC).isoformat(timespec="seconds"),
        }


class DockerEngine:
    """The engine at DOCKER_HOST (or `environ`'s), asked through a new client per job."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = dict(os.environ if environ is None else environ)
        self.host = self._environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"

    def client(self, *, timeout: float = PING_TIMEOUT) -> docker.APIClient:
        if self.host.startswith("unix://"):
            # The SDK leaves its socket open when a unix socket refuses the connect: try
            # one of our own first, closed whatever happens.
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                try:
                    probe.connect(self.host.removeprefix("unix://"))
                except OSError as err:
                    raise DockerException(f"cannot connect to {self.host}: "
                                          f"{err.strerror or err}") from None
        return docker.APIClient(version="auto", timeout=int(max(1, timeout)),
                                **kwargs_from_env(environment=self._environ))

    def problems(self) -> list[str]:
        """Empty when the engine answers; else the one sentence saying what to do."""
        try:
            with self.client() as api:
                api.ping()
        except _FAILURES as err:
            return [f"the Docker engine at {self.host} does not answer ({_short(err)}): "
                    "start it, or point DOCKER_HOST at one that runs"]
        return []

    def build(self, job: ImageBuild, *, log_path: Path, stop: Stop, timeout: float) -> Built:
        """Build the app's image, then label and tag it; the progress goes to `log_path`."""
        common = {"decode": True, "rm": True, "forcerm": True, "pull": False,
                  "timeout": int(timeout) + 1}
        with _log(log_path) as log, self._streaming(stop, timeout) as (api, expired):
            log.write(f"$ build {job.tag} from {job.dockerfile} (context {job.context})\n")
            error, image_id = _stream(lambda: api.build(
                path=str(job.context), dockerfile=_dockerfile_for(job),
                buildargs={"VERSION": job.version, **dict(job.args)}, **common), log)
            if image_id and not error and not stop.requested:
                labelling = _labelling(image_id, job.labels(now=datetime.now(UTC)))
                log.write(f"$ label and tag {job.tag} (one LABEL step on {image_id})\n")
                error, image_id = _stream(lambda: api.build(
                    fileobj=io.BytesIO(labelling), tag=job.tag, **common), log)
            ended = _ended(stop, expired, timeout)
            if ended:
                log.write(f"\nrollbot: {ended}\n")
                return Built(False, ended)
            if error or not image_id:
                return Built(False, error or "the engine ended the build without an image")
            return Built(True, image_id=image_id)

    def push(
        self, tag: str, *, log_path: Path, stop: Stop, timeout: float,
        credentials: tuple[str, str] | None,
    ) -> Built:
        """Push `repository:version` with `credentials` (else the engine's own auth)."""
        repository, _, version = tag.rpartition(":")
        auth = {"username": credentials[0], "password": credentials[1]} if credentials else None
        with _log(log_path) as log, self._streaming(stop, timeout) as (api, expired):
            log.write(f"$ push {tag}\n")
            try:
                lines = api.push(repository, tag=version, stream=True, decode=True,
                                 auth_config=auth)
                error, _ = _follow(lines, log)
            except _FAILURES as err:
                error = _short(err)
            ended = _ended(stop, expired, timeout)
            if ended:
                log.write(f"\nrollbot: {ended}\n")
                return Built(False, ended)
            if error:
                return Built(False, _push_reason(tag, error, credentials))
            return Built(True)

    @contextmanager
    def _streaming(
        self, stop: Stop, timeout: float
    ) -> Iterator[tuple[docker.APIClient, threading.Event]]:
        """A client whose streamed response a stop or the timeout can cut."""
        api = self.client(timeout=timeout + 1)
        responses: list[requests.Response] = []
        api.hooks["response"].append(lambda response, *_, **__: responses.append(response))
        expired = threading.Event()

        def cut() -> None:
            for response in responses:
                _shut(response)

        def expire() -> None:
            expired.set()
            cut()

        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        timer.start()
        try:
            with stop.closing(cut):
                yield api, expired
        finally:
            timer.cancel()
            api.close()


def _follow(lines: Iterable[Any], log: IO[str]) -> tuple[str, str]:
    """Write each progress line to the log; the error the engine reported, and the ID of
    the image it built ("" for either when there is none)."""
    error = image_id = ""
    for line in lines:
        if not isinstance(line, dict):
            continue
        text = line.get("stream") or _status(line)
        if text:
            log.write(text if text.endswith("\n") else text + "\n")
            log.flush()
        if line.get("error") or line.get("errorDetail"):
            detail = line.get("errorDetail") or {}
            error = str(line.get("error") or detail.get("message") or "the engine said no")
            log.write(f"ERROR: {error}\n")
        aux = line.get("aux")
        if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
            image_id = aux["ID"]
    return error, image_id


def _stream(build: Callable[[], Iterable[Any]], log: IO[str]) -> tuple[str, str]:
    """`_follow` the build `build` starts, a failure to start or read it being its error."""
    try:
        return _follow(build(), log)
    except _FAILURES as err:
        return _short(err), ""


def _labelling(image_id: str, labels: Mapping[str, str]) -> bytes:
    """A Dockerfile of rollbot's own that sets every label in one step on the built image.

    The Engine API's `labels` parameter makes the classic builder (dockerd 20.10) add one
    LABEL step per label, each with an intermediate container and a commit: about a second
    each here. The app's Dockerfile stays as it is; this one only adds to its image.
    """
    pairs = " ".join(f'"{key}"="{_escaped(value)}"' for key, value in sorted(labels.items()))
    return f"FROM {image_id}\nLABEL {pairs}\n".encode()


def _escaped(value: str) -> str:
    """A double-quoted Dockerfile word: no variable is expanded, no quote ends it early."""
    flat = " ".join(value.split())
    return flat.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")


def _status(line: Mapping[str, Any]) -> str:
    status = line.get("status")
    if not status:
        return ""
    layer = line.get("id")
    return f"{layer}: {status}" if layer else str(status)


def _ended(stop: Stop, expired: threading.Event, timeout: float) -> str:
    if stop.requested:
        return f"stopped by {stop.by}" if stop.by else "stopped"
    if expired.is_set():
        return f"timed out after {round(timeout)}s"
    return ""


def _push_reason(tag: str, error: str, credentials: tuple[str, str] | None) -> str:
    host = parse_image_ref(tag).registry
    if any(word in error.lower() for word in _AUTH_WORDS):
        who = f"user {credentials[0]!r}" if credentials else "the engine's own login"
        return (f"registry {host} refused the push for {who} ({error}): check "
                "REGISTRY_USERNAME and REGISTRY_PASSWORD")
    return f"pushing to registry {host} failed: {error}"


def _dockerfile_for(job: ImageBuild) -> str:
    """The Dockerfile as the API wants it: relative to the context when inside it; else
    absolute, which the SDK then sends along with the context."""
    try:
        return str(job.dockerfile.resolve().relative_to(job.context.resolve()))
    except ValueError:
        return str(job.dockerfile.resolve())


def _shut(response: requests.Response) -> None:
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        # Already closed means the stream has ended anyway.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def _log(path: Path) -> Iterator[IO[str]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:
        yield log


def _short(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= 300 else text[:297] + "..."
