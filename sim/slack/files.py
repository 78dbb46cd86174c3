"""Files uploaded the way Slack wants them since files.upload was retired: ask for an
upload URL (`files.getUploadURLExternal`), POST the bytes to it, then share the file
(`files.completeUploadExternal`) into a channel or thread.

The upload URL the stand-in hands out is its own `/upload/{file_id}`, which takes the
bytes as a raw body or as a multipart form, as Slack's does. A completed file shared to a
channel appears there as a message, in the thread when `thread_ts` is given.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class SlackFile:
    id: str
    name: str
    length: int  # as announced when the upload URL was asked for
    content: bytes | None = None  # None until the bytes were POSTed
    title: str = ""
    channel: str | None = None
    thread_ts: str | None = None
    shared_ts: str | None = None  # the message that shows it
    completed: bool = False

    def to_api(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "title": self.title or self.name,
                "size": len(self.content or b""), "mimetype": "text/plain"}


@dataclass
class FileStore:
    """Every file asked for, uploaded or shared; safe to read from another thread."""

    _files: dict[str, SlackFile] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def announce(self, name: str, length: int) -> SlackFile:
        with self._lock:
            new = SlackFile(id=f"F{next(self._ids):09d}", name=name, length=length)
            self._files[new.id] = new
            return new

    def get(self, file_id: str) -> SlackFile | None:
        with self._lock:
            return self._files.get(file_id)

    def all(self) -> list[SlackFile]:
        with self._lock:
            return list(self._files.values())

    async def receive(self, request: web.Request) -> web.Response:
        """The upload URL: store the POSTed bytes of a file announced before."""
        found = self.get(request.match_info["file_id"])
        if found is None or found.completed:
            raise web.HTTPNotFound(text="file_not_found")
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            part = next((v for v in form.values() if isinstance(v, web.FileField)), None)
            content = part.file.read() if part is not None else b""
        else:
            content = await request.read()
        with self._lock:
            found.content = content
        return web.Response(text=f"OK - {len(content)}")
