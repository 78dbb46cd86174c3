"""Answers preflight's question "does image:tag exist?" by speaking the Registry HTTP API v2,
and the release's "which digest does the pushed tag have?".

docker-py cannot ask a registry anything without a running daemon, and the bot runs where no
daemon is, so this module sends ``HEAD /v2/<name>/manifests/<reference>`` itself, performs
the registry auth dance (anonymous, Basic, or Bearer tokens from the realm the registry
names) and retries what is worth retrying. Callers see only True, False or RegistryError.
"""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from bot.backoff import RetryPolicy
from rollout import errors
from rollout.images import DOCKER_HUB, ImageRef, ImageRefError, parse_image_ref

log = logging.getLogger(__name__)

# Without these an OCI image reads as 404 on registries that do not convert formats.
MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
class RegistryError(errors.RegistryError):
    """The registry could not say whether the image exists; the message says what to do."""

    def __init__(self, message: str, *, registry: str, status: int | None = None) -> None:
        super().__init__(message)
        self.registry = registry
        self.status = status


def parse_challenges(header: str) -> dict[str, dict[str, str]]:
    """Read a WWW-Authenticate value into {scheme: {param: value}}; schemes are lowercased."""
    challenges: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    pos = 0
    while match := _AUTH_TOKEN.match(header, pos):
        name, pos = match.group(1), match.end()
        value = _AUTH_VALUE.match(header, pos)
        if value is not None and current is not None:
            quoted = value.group(1)
            current[name.lower()] = (
                re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else value.group(2)
            )
            pos = value.end()
        else:
            current = challenges.setdefault(name.lower(), {})
    return challenges


_AUTH_TOKEN = re.compile(r"[\s,]*([!#$%&'*+.^_`|~0-9A-Za-z-]+)")
_AUTH_VALUE = re.compile(r'\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds asked for by a Retry-After header (delta or HTTP date); None when absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# Fewer tries than a rollout's Kubernetes calls: a tag check answers a person waiting.
REGISTRY_RETRIES = RetryPolicy(attempts=3, base_delay=0.25, max_delay=5.0, max_total=30.0)


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes = b""


class RegistryClient:
    """Checks tags on any v2 registry; safe to call from several worker threads at once."""

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        insecure: bool = False,
        timeout: float = 10.0,
        insecure_hosts: Iterable[str] = (),
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = (username, password or "") if username else None
        self._insecure = insecure
        self._insecure_hosts = frozenset(insecure_hosts)
        self._timeout = timeout
        self._retry = retry or REGISTRY_RETRIES
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._basic_hosts: set[str] = set()

    @classmethod
    def from_env(
        cls, insecure: bool = False, *, environ: Mapping[str, str] | None = None
    ) -> RegistryClient:
        """Credentials from REGISTRY_USERNAME / REGISTRY_PASSWORD; anonymous when unset."""
        env = os.environ if environ is None else environ
        username, password = env.get("REGISTRY_USERNAME"), env.get("REGISTRY_PASSWORD")
        return cls(username=username or None, password=password or None, insecure=insecure)

    def image_exists(self, image: str, tag: str) -> bool:
        """True when ``image:tag`` (tag may be a digest) is in the registry, else False."""
        return self._judge(*self._manifest(image, tag))

    def manifest_digest(self, image: str, tag: str) -> str | None:
        """The digest the registry answers for ``image:tag`` (its Docker-Content-Digest),
        None when the tag is not there; RegistryError when it cannot tell."""
        ref, reply = self._manifest(image, tag)
        if not self._judge(ref, reply):
            return None
        digest = reply.headers.get("Docker-Content-Digest")
        if not digest:
            raise _fail(ref, f"answered for {ref.repository}:{ref.reference} without a "
                        "Docker-Content-Digest header; it cannot be verified")
        return digest

    def _manifest(self, image: str, tag: str) -> tuple[ImageRef, _Reply]:
        ref = _target(image, tag)
        url = f"{self._base_url(ref.registry)}/v2/{ref.repository}/manifests/{ref.reference}"
        with requests.Session() as session:
            authorization = self._remembered(ref)
            reply = self._send(session, "HEAD", url, ref=ref, headers=_accept(authorization))
            if reply.status == 401:
                # A remembered token may have been revoked: one fresh dance, then judge.
                self._forget(ref)
                challenge = reply.headers.get("WWW-Authenticate") or ""
                authorization = self._authorize(session, ref, challenge)
                reply = self._send(session, "HEAD", url, ref=ref, headers=_accept(authorization))
        return ref, reply

    # -- answers --------------------------------------------------------------------------

    def _judge(self, ref: ImageRef, reply: _Reply) -> bool:
        if reply.status == 200:
            return True
        if reply.status == 404:
            return False
        where = f"{ref.repository}:{ref.reference}"
        if reply.status in (401, 403):
            raise self._denied(ref, reply.status, f"pull access to {where}")
        text = f"answered HTTP {reply.status} for {where}; check the image name and the registry"
        raise _fail(ref, text, reply.status)

    def _denied(self, ref: ImageRef, status: int, what: str) -> RegistryError:
        if self._credentials is None:
            return _fail(ref, f"refused anonymous {what} (HTTP {status}); the repository may "
                         "not exist, or it needs a login: set REGISTRY_USERNAME and "
                         "REGISTRY_PASSWORD", status)
        return _fail(ref, f"refused {what} for user {self._credentials[0]!r} (HTTP {status}); "
                     "check REGISTRY_USERNAME and REGISTRY_PASSWORD and that the user may pull "
                     f"{ref.repository}", status)

    # -- auth -----------------------------------------------------------------------------

    def _remembered(self, ref: ImageRef) -> str | None:
        with self._lock:
            token = self._tokens.get((ref.registry, _scope(ref)))
            if token is not None and token[1] > self._clock():
                return f"Bearer {token[0]}"
            if ref.registry in self._basic_hosts and self._credentials is not None:
                return _basic(self._credentials)
        return None

    def _forget(self, ref: ImageRef) -> None:
        with self._lock:
            self._tokens.pop((ref.registry, _scope(ref)), None)

    def _authorize(self, session: requests.Session, ref: ImageRef, challenge: str) -> str:
        schemes = parse_challenges(challenge)
        if "bearer" in schemes:
            return f"Bearer {self._token(session, ref, schemes['bearer'])}"
        if "basic" in schemes:
            if self._credentials is None:
                raise self._denied(ref, 401, f"access to {ref.repository}")
            with self._lock:
                self._basic_hosts.add(ref.registry)
            return _basic(self._credentials)
        raise _fail(ref, "asked for an authentication scheme rollbot does not speak "
                    f"({challenge or 'no WWW-Authenticate header'}); use Basic or Bearer token "
                    "auth", 401)

    def _token(self, session: requests.Session, ref: ImageRef, params: Mapping[str, str]) -> str:
        realm = params.get("realm", "")
        if not realm.startswith(("http://", "https://")):
            raise _fail(ref, f"named no usable token realm ({realm!r}); check its auth setup")
        query = {"scope": _scope(ref)}
        if "service" in params:
            query["service"] = params["service"]
        headers = {"Authorization": _basic(self._credentials)} if self._credentials else {}
        reply = self._send(session, "GET", realm, ref=ref, headers=headers, query=query,
                           read_body=True)
        if reply.status in (401, 403):
            raise self._denied(ref, reply.status, f"a token for {ref.repository}")
        token, lifetime = _read_token(ref, reply)
        with self._lock:
            self._tokens[(ref.registry, _scope(ref))] = (token, self._clock() + lifetime)
        return token

    # -- transport ------------------------------------------------------------------------

    def _base_url(self, host: str) -> str:
        plain = self._insecure or host in self._insecure_hosts
        return f"{'http' if plain else 'https'}://{host}"

    def _send(
        self,
        session: requests.Session,
        method: str,
        url: str,
        *,
        ref: ImageRef,
        headers: Mapping[str, str],
        query: Mapping[str, str] | None = None,
        read_body: bool = False,
    ) -> _Reply:
        """One logical request: retries 5xx, 429 and network errors; HEAD falls back to GET."""
        deadline = self._clock() + self._retry.max_total
        attempt = 0
        while True:
            attempt += 1
            try:
                reply = self._once(session, method, url, headers, query, read_body=read_body)
            except requests.exceptions.SSLError as exc:
                raise _fail(ref, f"failed the TLS handshake ({_reason(exc)}); if it is a "
                            "plain-http local registry set registry.insecure: true") from exc
            except (requests.ConnectionError, requests.Timeout) as exc:
                failure: _Reply | BaseException = exc
                delay = self._retry.backoff(attempt - 1)
            else:
                if reply.status == 405 and method == "HEAD":
                    # Some registries refuse HEAD on manifests; GET answers the same question.
                    method, attempt = "GET", attempt - 1
                    continue
                if reply.status != 429 and reply.status < 500:
                    return reply
                failure = reply
                hinted = retry_after_seconds(reply.headers.get("Retry-After"))
                delay = self._retry.backoff(attempt - 1, hinted)
            if attempt >= self._retry.attempts or self._clock() + delay > deadline:
                raise _exhausted(ref, url, failure, attempt)
            log.info("registry %s: attempt %d failed, retrying in %.2fs", ref.registry,
                     attempt, delay)
            time.sleep(delay)

    def _once(
        self,
        session: requests.Session,
        method: str,
        url: str,
        headers: Mapping[str, str],
        query: Mapping[str, str] | None,
        *,
        read_body: bool,
    ) -> _Reply:
        # stream=True for manifests: a GET fallback must not download the manifest body.
        with session.request(method, url, headers=dict(headers), params=query,
                             timeout=self._timeout, stream=not read_body) as response:
            body = response.content if read_body else b""
            return _Reply(response.status_code, response.headers, body)


def _target(image: str, tag: str) -> ImageRef:
    try:
        ref = parse_image_ref(image)
        if ref.tag or ref.digest:
            raise ImageRefError(f"{image!r} already names a tag; pass the tag separately")
        joiner = "@" if ":" in tag else ":"
        return parse_image_ref(f"{image}{joiner}{tag}")
    except ImageRefError as exc:
        host = image.partition("/")[0] if "/" in image else DOCKER_HUB
        raise RegistryError(
            f"Cannot check {image}:{tag}: {exc}. Fix the image or version.", registry=host
        ) from exc


def _accept(authorization: str | None) -> dict[str, str]:
    headers = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
    if authorization:
        headers["Authorization"] = authorization
    return headers


def _scope(ref: ImageRef) -> str:
    return f"repository:{ref.repository}:pull"


def _basic(credentials: tuple[str, str]) -> str:
    raw = f"{credentials[0]}:{credentials[1]}".encode()
    return f"Basic {base64.b64encode(raw).decode('ascii')}"


def _read_token(ref: ImageRef, reply: _Reply) -> tuple[str, float]:
    """The token and how long to trust it (a little under what the server said)."""
    document: Any = None
    if reply.status == 200:
        try:
            document = json.loads(reply.body)
        except ValueError:
            document = None
    if not isinstance(document, dict):
        document = {}
    token = document.get("token") or document.get("access_token")
    if not isinstance(token, str) or not token:
        text = f"token service answered HTTP {reply.status} without a token; check it"
        raise _fail(ref, text, reply.status)
    expires_in = document.get("expires_in")
    seconds = float(expires_in) if isinstance(expires_in, int | float) else 60.0
    return token, max(0.0, seconds - min(10.0, seconds / 4))


def _exhausted(
    ref: ImageRef, url: str, failure: _Reply | BaseException, attempts: int
) -> RegistryError:
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    if isinstance(failure, BaseException):
        return _fail(ref, f"cannot be reached at {url} ({_reason(failure)}) after {tries}; "
                     "check the image's registry host and that the registry is up")
    if failure.status == 429:
        return _fail(ref, f"kept rate-limiting rollbot (HTTP 429) after {tries}; wait a "
                     "minute", 429)
    return _fail(ref, f"failed with HTTP {failure.status} after {tries}; it seems to be "
                 "having trouble", failure.status)


def _fail(ref: ImageRef, problem: str, status: int | None = None) -> RegistryError:
    return RegistryError(f"Registry {ref.registry} {problem}; then try again.",
                         registry=ref.registry, status=status)


def _reason(exc: BaseException) -> str:
    """A short cause for a network failure, e.g. "connection refused"."""
    if isinstance(exc, requests.Timeout):
        return "timed out"
    # urllib3 buries the socket error a few wrappers deep; its text is the useful part.
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
    return found.group(1).strip().lower() if found else type(exc).__name__
