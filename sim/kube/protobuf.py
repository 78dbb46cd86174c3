"""Kubernetes protobuf request bodies, for the kinds clients send that way.

Helm 3 keeps each release in a Secret and writes it with client-go's typed client, which
sends ``application/vnd.kubernetes.protobuf`` (the real server takes both encodings, so
client-go does not fall back to JSON on a 415). The simulated server answers in JSON
either way; it only has to read those bodies. The format: the magic ``k8s\\0``, then a
``runtime.Unknown`` message whose ``raw`` field is the object itself. Only the fields
rollbot's clients send are read (a Secret and its ObjectMeta); a body of any other kind
is refused with 415, as before, so an unexpected one shows up rather than being misread.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

MAGIC = b"k8s\x00"
VARINT, FIXED64, BYTES, FIXED32 = 0, 1, 2, 5


class Unreadable(ValueError):
    """The body is not a protobuf object this server can read."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if pos >= len(data):
            raise Unreadable("truncated varint")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs of one message: ints for varints, bytes otherwise."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == BYTES:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise Unreadable("truncated field")
            yield number, data[pos:pos + size]
            pos += size
        elif wire in (FIXED64, FIXED32):
            width = 8 if wire == FIXED64 else 4
            yield number, data[pos:pos + width]
            pos += width
        else:
            raise Unreadable(f"unsupported wire type {wire}")


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise Unreadable("expected a string")
    return value.decode()


def _entry(value: int | bytes) -> tuple[str, int | bytes]:
    """One entry of a protobuf map: key (1) and value (2)."""
    if not isinstance(value, bytes):
        raise Unreadable("expected a map entry")
    key: str = ""
    found: int | bytes = b""
    for number, part in fields(value):
        if number == 1:
            key = _text(part)
        elif number == 2:
            found = part
    return key, found


def _owner_reference(value: int | bytes) -> dict[str, Any]:
    names = {1: "kind", 3: "name", 4: "uid", 5: "apiVersion"}
    flags = {6: "controller", 7: "blockOwnerDeletion"}
    ref: dict[str, Any] = {}
    for number, part in fields(value if isinstance(value, bytes) else b""):
        if number in names:
            ref[names[number]] = _text(part)
        elif number in flags:
            ref[flags[number]] = bool(part)
    return ref


def object_meta(data: bytes) -> dict[str, Any]:
    """ObjectMeta: the fields a client sets (server-set ones are the server's to fill)."""
    strings = {1: "name", 2: "generateName", 3: "namespace", 6: "resourceVersion"}
    meta: dict[str, Any] = {}
    for number, value in fields(data):
        if number in strings:
            meta[strings[number]] = _text(value)
        elif number in (11, 12):
            key, text = _entry(value)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = _text(text)
        elif number == 13:
            meta.setdefault("ownerReferences", []).append(_owner_reference(value))
        elif number == 14:
            meta.setdefault("finalizers", []).append(_text(value))
    return meta


def _secret(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret"}
    for number, value in fields(data):
        if number == 1 and isinstance(value, bytes):
            obj["metadata"] = object_meta(value)
        elif number == 2:
            key, raw = _entry(value)
            blob = raw if isinstance(raw, bytes) else b""
            obj.setdefault("data", {})[key] = base64.b64encode(blob).decode()
        elif number == 3:
            obj["type"] = _text(value)
        elif number == 4:
            key, text = _entry(value)
            obj.setdefault("stringData", {})[key] = _text(text)
        elif number == 5:
            obj["immutable"] = bool(value)
    return obj


READERS: dict[tuple[str, str], Callable[[bytes], dict[str, Any]]] = {
    ("v1", "Secret"): _secret,
}


def decode(body: bytes) -> dict[str, Any]:
    """The object in a protobuf request body, as the JSON the rest of the server handles."""
    if not body.startswith(MAGIC):
        raise Unreadable("the body does not start with the Kubernetes protobuf magic")
    api_version = kind = ""
    raw = b""
    for number, value in fields(body[len(MAGIC):]):
        if number == 1 and isinstance(value, bytes):
            for part_no, part in fields(value):
                if part_no == 1:
                    api_version = _text(part)
                elif part_no == 2:
                    kind = _text(part)
        elif number == 2 and isinstance(value, bytes):
            raw = value
    reader = READERS.get((api_version, kind))
    if reader is None:
        raise Unreadable(f"no protobuf reader for {api_version} {kind}")
    return reader(raw)
