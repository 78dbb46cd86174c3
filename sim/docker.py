"""A Docker engine and a registry of one's own, for the demo, the release benchmark and the
tests: nothing here may use (or disturb) an engine the machine already runs.

`dockerd` (Debian's docker.io) starts with vfs storage, no iptables and no bridge, its
socket and state in a short temporary folder (containerd's socket path must stay under
108 bytes). Nothing can be pulled, so the base image is a static busybox and its applet
links, imported through the Engine API (`docker import`). The registry is Debian's
`docker-registry` on 127.0.0.1 with htpasswd auth, whose bcrypt line comes from the
system's libxcrypt. Every starter stops what it started when its block ends.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import os
import secrets
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import requests
import yaml

ENGINE_TIMEOUT = 30.0  # seconds dockerd may take to answer its first ping
REGISTRY_TIMEOUT = 10.0
STOP_TIMEOUT = 20.0
BASE_IMAGE = "rollbot-test-base:1"
REGISTRY_USER, REGISTRY_PASSWORD = "rollbot", "s3cret-push"
BUSYBOX_LINKS = ("sh", "httpd", "echo", "cat", "mkdir", "printf", "sleep", "ls", "cp", "true",
                 "false", "env")
SETUP = "run scripts/setup as root"
# What each binary comes in, as scripts/setup installs it.
PACKAGES = {"dockerd": "docker.io", "docker-registry": "docker-registry",
            "busybox": "busybox-static", "pnpm": "pnpm", "node": "nodejs", "git": "git"}


class DockerUnavailable(RuntimeError):
    """The engine or the registry is missing or would not start; the message says why."""


def missing_needs(binaries: tuple[str, ...]) -> list[str]:
    """What this machine lacks to start an engine and a registry here: absent binaries by
    package, and root (dockerd runs only as root). Empty when all is there."""
    lacking = [f"{PACKAGES.get(b, b)} ({b})" for b in binaries if shutil.which(b) is None]
    if "dockerd" in binaries and os.geteuid() != 0:
        lacking.append("root (dockerd runs only as root)")
    return lacking


def _required(binary: str) -> str:
    found = shutil.which(binary)
    if found is None:
        raise DockerUnavailable(f"{binary} is not installed: {SETUP} (it installs "
                                f"{PACKAGES.get(binary, binary)})")
    return found


# -- the engine --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Engine:
    host: str  # DOCKER_HOST
    base_image: str
    pid: int = 0  # dockerd's, for the release benchmark's CPU count

    def client(self) -> docker.APIClient:
        return docker.APIClient(base_url=self.host, version="auto", timeout=60)


@contextmanager
def docker_engine(timings: MutableMapping[str, float] | None = None) -> Iterator[Engine]:
    """A dockerd of one's own with the busybox base image imported; stopped (and its
    folder removed) when the block ends. `timings` gets how long each part took."""
    dockerd, busybox = _required("dockerd"), _required("busybox")
    took = timings if timings is not None else {}
    root = Path(tempfile.mkdtemp(prefix="rbd-", dir="/tmp"))
    host = f"unix://{root}/docker.sock"
    started = time.monotonic()
    try:
        with (root / "dockerd.log").open("wb") as log:
            process = subprocess.Popen(
                [dockerd, "--storage-driver", "vfs", "--iptables=false", "--ip6tables=false",
                 "--bridge=none", "--host", host, "--data-root", str(root / "data"),
                 "--exec-root", str(root / "x"), "--pidfile", str(root / "docker.pid")],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            _wait_for_engine(host, process, root / "dockerd.log")
            took["dockerd start"] = time.monotonic() - started
            started = time.monotonic()
            _import_base(host, Path(busybox))
            took["base image import"] = time.monotonic() - started
            yield Engine(host=host, base_image=BASE_IMAGE, pid=process.pid)
        finally:
            _stop(process)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def _wait_for_engine(host: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + ENGINE_TIMEOUT
    path = host.removeprefix("unix://")
    while time.monotonic() < deadline and process.poll() is None:
        # A plain connect first: the SDK leaks its socket when the connect is refused.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(path)
            except OSError:
                time.sleep(0.05)  # polling a socket that has no event to wait on
                continue
        with docker.APIClient(base_url=host, version="auto", timeout=10) as api:
            api.ping()
            return
    raise DockerUnavailable(f"dockerd did not start: {log.read_text(errors='replace')[-2000:]}")


def _import_base(host: str, busybox: Path) -> None:
    """A root file system of one static busybox and its applet links, imported as an image."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        tar.add(busybox, arcname="bin/busybox")
        for name in BUSYBOX_LINKS:
            link = tarfile.TarInfo(f"bin/{name}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        for folder in ("tmp", "www"):
            entry = tarfile.TarInfo(folder)
            entry.type, entry.mode = tarfile.DIRTYPE, 0o1777
            tar.addfile(entry)
    repository, tag = BASE_IMAGE.split(":")
    with docker.APIClient(base_url=host, version="auto", timeout=60) as api:
        api.import_image_from_data(data.getvalue(), repository=repository, tag=tag)


# -- the registry ------------------------------------------------------------------------------


@dataclass
class RunningRegistry:
    url: str
    host: str
    process: subprocess.Popen[bytes]
    log_path: Path


@dataclass(frozen=True)
class Registry:
    """A running registry that takes pushes from one user."""

    running: RunningRegistry
    user: str = REGISTRY_USER
    password: str = REGISTRY_PASSWORD

    @property
    def host(self) -> str:
        return self.running.host


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def run_registry(
    workdir: Path, *, auth: Mapping[str, Any] | None = None
) -> Iterator[RunningRegistry]:
    """Start ``docker-registry serve`` on a free port; stop it when the block ends."""
    binary = _required("docker-registry")
    workdir.mkdir(parents=True, exist_ok=True)
    registry = _start_registry(binary, workdir, auth)
    try:
        yield registry
    finally:
        registry.process.terminate()
        try:
            registry.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            registry.process.kill()
            registry.process.wait(timeout=5)


@contextmanager
def push_registry(
    timings: MutableMapping[str, float] | None = None, *, user: str = REGISTRY_USER,
    password: str = REGISTRY_PASSWORD, realm: str = "rollbot",
) -> Iterator[Registry]:
    """docker-registry on 127.0.0.1 that takes pushes from `user` only (htpasswd)."""
    root = Path(tempfile.mkdtemp(prefix="rbr-", dir="/tmp"))
    started = time.monotonic()
    try:
        (root / "htpasswd").write_text(htpasswd_entry(user, password))
        auth = {"htpasswd": {"realm": realm, "path": str(root / "htpasswd")}}
        with run_registry(root / "registry", auth=auth) as running:
            if timings is not None:
                timings["registry start"] = time.monotonic() - started
            yield Registry(running, user, password)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _start_registry(binary: str, workdir: Path, auth: Mapping[str, Any] | None
                    ) -> RunningRegistry:
    # The port is free when chosen but may be taken before the registry binds it; try again.
    for attempt in range(3):
        port = free_port()
        config = workdir / f"config-{attempt}.yml"
        config.write_text(yaml.safe_dump(_registry_config(workdir / "storage", port, auth)))
        log_path = workdir / f"registry-{attempt}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen([binary, "serve", str(config)], stdout=log,
                                       stderr=subprocess.STDOUT)
        registry = RunningRegistry(f"http://127.0.0.1:{port}", f"127.0.0.1:{port}", process,
                                   log_path)
        if _wait_until_serving(registry):
            return registry
        process.kill()
        process.wait(timeout=5)
    raise DockerUnavailable(
        f"docker-registry did not start; its log: {log_path.read_text(errors='replace')[-2000:]}"
    )


def _registry_config(root: Path, port: int, auth: Mapping[str, Any] | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(root)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
    }
    if auth:
        config["auth"] = dict(auth)
    return config


def _wait_until_serving(registry: RunningRegistry) -> bool:
    deadline = time.monotonic() + REGISTRY_TIMEOUT
    while time.monotonic() < deadline and registry.process.poll() is None:
        try:
            with requests.get(f"{registry.url}/v2/", timeout=1):
                return True  # any HTTP answer (200, or 401 with auth) means it is serving
        except requests.ConnectionError:
            time.sleep(0.05)  # polling a port: there is no event to wait on
    return False


def htpasswd_entry(user: str, password: str) -> str:
    """An htpasswd line with a bcrypt hash (all docker-registry accepts), via libxcrypt.

    Python's ``crypt`` module is deprecated (and gone in 3.13); the bcrypt package is not a
    dependency. Debian's libcrypt1 (libxcrypt) makes ``$2b$`` hashes natively.
    """
    lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = lib.crypt_gensalt(b"$2b$", 4, None, 0)  # cost 4: bcrypt's minimum, fast to check
    hashed = lib.crypt(password.encode(), salt) if salt else None
    if not hashed or not hashed.startswith(b"$2b$"):
        raise DockerUnavailable("this machine's libcrypt cannot make bcrypt hashes")
    return f"{user}:{hashed.decode()}\n"
