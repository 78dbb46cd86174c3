"""Image references (``registry/repository[:tag][@digest]``), split the way docker does.

Pure, so every part of rollbot reads an image the same way: the configuration checks
(an app's `image` must be a repository without a tag), the registry client (which
registry to ask, and for which manifest), and whatever shows the version a deployment
runs (:func:`tag_of`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCKER_HUB = "registry-1.docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry.hub.docker.com", DOCKER_HUB})

_HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9-]+)*(?::\d{1,5})?$"
)
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^(sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$")


class ImageRefError(ValueError):
    """A malformed image reference; the message says which part is wrong."""


@dataclass(frozen=True)
class ImageRef:
    """``registry/repository[:tag][@digest]`` split into its parts, Docker Hub defaults applied."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest wins, then the tag, then ``latest``."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        tag, digest = f":{self.tag}" if self.tag else "", f"@{self.digest}" if self.digest else ""
        return f"{self.registry}/{self.repository}{tag}{digest}"


def parse_image_ref(ref: str) -> ImageRef:
    """Split an image reference the way docker does; raise ImageRefError when malformed."""
    text = ref.strip()
    if not text:
        raise ImageRefError("image reference is empty")
    if any(c.isspace() for c in text):
        raise ImageRefError(f"image reference {ref!r} contains whitespace")
    name, _, digest = text.partition("@")
    if digest and not _DIGEST.match(digest):
        raise ImageRefError(f"{ref!r}: digest must look like sha256:<64 hex digits>")
    tag: str | None = None
    last_slash, last_colon = name.rfind("/"), name.rfind(":")
    if last_colon > last_slash:
        name, tag = name[:last_colon], name[last_colon + 1 :]
        if not _TAG.match(tag):
            raise ImageRefError(f"{ref!r}: tag {tag!r} is not a valid tag")
    host, path = _split_host(name)
    _check_path(ref, path)
    return ImageRef(registry=host, repository=path, tag=tag, digest=digest or None)


def _split_host(name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    else:
        host, path = DOCKER_HUB, name
    if host.lower() in _HUB_ALIASES:
        host = DOCKER_HUB
        if path and "/" not in path:
            path = f"library/{path}"
    if not _HOST.match(host):
        raise ImageRefError(f"{name!r}: registry host {host!r} is not a valid host[:port]")
    return host, path


def _check_path(ref: str, path: str) -> None:
    if not path:
        raise ImageRefError(f"{ref!r}: repository name is missing")
    if len(path) > 255:
        raise ImageRefError(f"{ref!r}: repository name is longer than 255 characters")
    for component in path.split("/"):
        if component != component.lower():
            raise ImageRefError(f"{ref!r}: repository names must be lowercase")
        if not _COMPONENT.match(component):
            raise ImageRefError(f"{ref!r}: {component!r} is not a valid repository path part")


def tag_of(image: str) -> str | None:
    """The tag of an image reference (`v1.2.3`), ignoring any registry port and digest;
    None when it has no tag or is not an image reference."""
    try:
        return parse_image_ref(image).tag
    except ImageRefError:
        return None
