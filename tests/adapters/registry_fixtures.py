"""Real registries for the registry adapter's tests, with no docker daemon anywhere.

A ``docker-registry`` process (the Debian package, started by :mod:`sim.docker`) serves
plain http on 127.0.0.1; images
are pushed through the Registry API itself (blob uploads, then a manifest PUT), the way
``docker push`` does it. Basic auth uses an htpasswd file whose bcrypt entries come from the
system's libxcrypt; bearer auth uses a small token issuer that signs JWTs with a key and
certificate made by the ``openssl`` CLI, which the registry verifies for real.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import io
import json
import secrets
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import requests
from aiohttp import web

from sim.docker import RunningRegistry, free_port, htpasswd_entry, missing_needs
from sim.docker import run_registry as sim_run_registry

# Other test modules take these from here; they live with the starters in sim.docker.
__all__ = ["RunningRegistry", "free_port", "htpasswd_entry", "run_registry"]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
# manifest, config and layer media types of each image format
_FORMATS = {
    "oci": (OCI_MANIFEST, "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar+gzip"),
    "docker": (DOCKER_MANIFEST, "application/vnd.docker.container.image.v1+json",
               "application/vnd.docker.image.rootfs.diff.tar.gzip"),
}


# -- the registry process (sim.docker's, failing the test with the setup hint) -------------


@contextmanager
def run_registry(
    workdir: Path, *, auth: Mapping[str, Any] | None = None
) -> Iterator[RunningRegistry]:
    """Start ``docker-registry serve`` on a free port; stop it when the block ends."""
    if missing_needs(("docker-registry",)):
        pytest.fail(
            "docker-registry is not installed: run scripts/setup as root (it apt-installs the "
            "Debian package docker-registry)",
            pytrace=False,
        )
    with sim_run_registry(workdir, auth=auth) as registry:
        yield registry


# -- pushing images --------------------------------------------------------------------------


@dataclass(frozen=True)
class PushedImage:
    repository: str
    tag: str
    digest: str
    media_type: str
    size: int


def push_image(
    base_url: str,
    repository: str,
    tag: str,
    *,
    kind: Literal["oci", "docker"],
    headers: Mapping[str, str] | None = None,
) -> PushedImage:
    """Upload a one-layer image (config blob, layer blob, manifest) as ``docker push`` would."""
    manifest_type, config_type, layer_type = _FORMATS[kind]
    raw_tar = _tar_with(f"{repository}:{tag}\n".encode())
    layer = gzip.compress(raw_tar, mtime=0)
    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [_digest(raw_tar)]},
    }).encode()
    with requests.Session() as session:
        session.headers.update(headers or {})
        _upload_blob(session, base_url, repository, config)
        _upload_blob(session, base_url, repository, layer)
        manifest = {
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": _descriptor(config_type, config),
            "layers": [_descriptor(layer_type, layer)],
        }
        return _put_manifest(session, f"{base_url}/v2/{repository}/manifests/{tag}",
                             manifest, (repository, tag))


def push_index(
    base_url: str,
    repository: str,
    tag: str,
    *,
    images: Sequence[PushedImage],
    headers: Mapping[str, str] | None = None,
) -> PushedImage:
    """Tag an OCI image index over already pushed manifests (a multi-platform image)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": image.media_type, "digest": image.digest, "size": image.size,
             "platform": {"architecture": "amd64", "os": "linux"}}
            for image in images
        ],
    }
    with requests.Session() as session:
        session.headers.update(headers or {})
        return _put_manifest(session, f"{base_url}/v2/{repository}/manifests/{tag}",
                             manifest, (repository, tag))


def _put_manifest(
    session: requests.Session, url: str, manifest: Mapping[str, Any], name: tuple[str, str]
) -> PushedImage:
    body = json.dumps(manifest).encode()
    media_type = str(manifest["mediaType"])
    response = session.put(url, data=body, headers={"Content-Type": media_type}, timeout=10)
    _expect(response, 201)
    return PushedImage(name[0], name[1], _digest(body), media_type, len(body))


def _upload_blob(session: requests.Session, base_url: str, repository: str, data: bytes) -> None:
    started = session.post(f"{base_url}/v2/{repository}/blobs/uploads/", timeout=10)
    _expect(started, 202)
    location = requests.compat.urljoin(f"{base_url}/", started.headers["Location"])
    done = session.put(
        location,
        params={"digest": _digest(data)},
        data=data,
        headers={"Content-Type": "application/octet-stream"},
        timeout=10,
    )
    _expect(done, 201)


def _expect(response: requests.Response, status: int) -> None:
    if response.status_code != status:
        raise AssertionError(
            f"{response.request.method} {response.url} answered {response.status_code}, "
            f"expected {status}: {response.text[:500]}"
        )


def _tar_with(content: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("release.txt")
        info.size, info.mtime = len(content), 0
        tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": _digest(data), "size": len(data)}


# -- aiohttp servers for synchronous tests ---------------------------------------------------


class ThreadedApp:
    """Serves an aiohttp app on 127.0.0.1 from its own loop in a thread, for sync callers."""

    def __init__(self, app: web.Application) -> None:
        self.loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.url = ""

    def start(self) -> str:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._open(), self.loop).result(timeout=10)
        return self.url

    async def _open(self) -> str:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    async def _close(self) -> None:
        await self._runner.cleanup()
        await self.loop.shutdown_default_executor()


@contextmanager
def serve(app: web.Application) -> Iterator[ThreadedApp]:
    server = ThreadedApp(app)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- a token issuer the registry really trusts -----------------------------------------------


@dataclass(frozen=True)
class SigningCert:
    key: Path
    cert: Path

    @property
    def x5c(self) -> str:
        """The certificate as DER in base64: the PEM body without its armour lines."""
        lines = self.cert.read_text().splitlines()
        return "".join(line for line in lines if not line.startswith("-----"))


def make_signing_cert(directory: Path) -> SigningCert:
    directory.mkdir(parents=True, exist_ok=True)
    cert = SigningCert(directory / "issuer.key", directory / "issuer.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
         "-subj", "/CN=rollbot test token issuer", "-keyout", str(cert.key),
         "-out", str(cert.cert)],
        check=True, capture_output=True, timeout=30,
    )
    return cert


@dataclass
class TokenIssuer:
    """Docker-style token service: optional Basic credentials in, RS256 JWT out.

    Anonymous callers get a token granting nothing, as Docker Hub does; known users get what
    they ask for; wrong credentials get 401.
    """

    cert: SigningCert
    users: Mapping[str, str]
    issuer: str = "rollbot-test-issuer"
    service: str = "rollbot-test-registry"
    calls: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/token", self._token)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        user = _basic_user(request.headers.get("Authorization", ""))
        scopes = request.query.getall("scope", [])
        self.calls.append({"service": request.query.get("service", ""),
                              "scope": " ".join(scopes), "user": user[0] if user else ""})
        if user is not None and self.users.get(user[0]) != user[1]:
            return web.json_response({"details": "incorrect username or password"}, status=401)
        now = int(time.time())
        claims = {
            "iss": self.issuer, "sub": user[0] if user else "", "aud": self.service,
            "iat": now, "nbf": now - 10, "exp": now + 300, "jti": secrets.token_hex(8),
            "access": [_grant(scope) for scope in scopes] if user else [],
        }
        token = await asyncio.to_thread(self.sign, claims)
        return web.json_response({"token": token, "expires_in": 300})

    def sign(self, claims: Mapping[str, Any]) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.cert.x5c]}
        signing_input = f"{_b64url(json.dumps(header))}.{_b64url(json.dumps(claims))}"
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.cert.key)],
            input=signing_input.encode(), check=True, capture_output=True, timeout=10,
        ).stdout
        return f"{signing_input}.{_b64url(signature)}"

    def token_auth_config(self, realm: str) -> dict[str, Any]:
        return {"token": {"realm": realm, "service": self.service, "issuer": self.issuer,
                          "rootcertbundle": str(self.cert.cert)}}


def _grant(scope: str) -> dict[str, Any]:
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    return {"type": kind, "name": name, "actions": actions.split(",")}


def _basic_user(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    user, _, password = base64.b64decode(encoded).decode().partition(":")
    return user, password


def _b64url(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def issuer_token(issuer_url: str, *, scope: str, user: str, password: str) -> str:
    """A token straight from the issuer, e.g. with push rights for seeding the registry."""
    response = requests.get(
        f"{issuer_url}/token", params={"scope": scope, "service": "rollbot-test-registry"},
        auth=(user, password), timeout=10,
    )
    _expect(response, 200)
    return str(response.json()["token"])
