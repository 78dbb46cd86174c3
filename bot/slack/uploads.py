"""Files in Slack, the way Slack takes them since `files.upload` was retired: ask for an
upload URL (`files.getUploadURLExternal`), POST the bytes there, then share the file in a
channel or thread (`files.completeUploadExternal`).

The release pipeline uploads a failed step's whole log to the release's thread with it.
Both Web API calls go through slack_sdk's WebClient, so its base URL, token and retry
handlers are the bot's own; the bytes go to the URL Slack answered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from rollout.errors import ChatError

UPLOAD_TIMEOUT = 60.0


@dataclass(frozen=True)
class Uploaded:
    file_id: str
    title: str


class SlackUploader:
    def __init__(self, client: WebClient) -> None:
        self._client = client

    def upload(
        self, *, channel: str, content: bytes, filename: str, title: str = "",
        thread_ts: str | None = None, comment: str | None = None,
    ) -> Uploaded:
        """Share `content` as the file `filename` in `channel` (in the thread of
        `thread_ts`). ChatError, saying which call failed, when Slack refuses it."""
        try:
            file_id = self.send(channel=channel, content=content, filename=filename,
                                title=title, thread_ts=thread_ts, comment=comment)
        except SlackApiError as err:
            raise ChatError(f"Slack refused the upload of {filename}: "
                            f"{err.response.get('error', err)}") from err
        except SlackRequestError as err:
            raise ChatError(f"Slack could not be reached to upload {filename}: {err}") from err
        except requests.RequestException as err:
            raise ChatError(f"the upload of {filename} to Slack failed: {err}") from err
        return Uploaded(file_id, title or filename)

    def upload_file(
        self, path: Path, *, channel: str, title: str = "", thread_ts: str | None = None,
        comment: str | None = None,
    ) -> Uploaded:
        return self.upload(channel=channel, content=path.read_bytes(), filename=path.name,
                           title=title, thread_ts=thread_ts, comment=comment)

    def send(
        self, *, channel: str, content: bytes, filename: str, title: str = "",
        thread_ts: str | None = None, comment: str | None = None,
        noted: Callable[[str], None] | None = None,
    ) -> str:
        """The three calls, their errors as the SDK and requests raise them (for a caller
        that sorts them, as the outbox does); returns the file's ID. `noted(file_id)` hears
        the ID before the file is shared, so a caller that loses the answer can look for it."""
        if not content:
            content = b"(empty)\n"  # Slack refuses a zero-length upload
        asked = self._client.files_getUploadURLExternal(filename=filename, length=len(content))
        url, file_id = str(asked["upload_url"]), str(asked["file_id"])
        with requests.post(url, data=content, timeout=UPLOAD_TIMEOUT,
                           headers={"Content-Type": "application/octet-stream"}) as reply:
            reply.raise_for_status()
        if noted is not None:
            noted(file_id)
        self._client.files_completeUploadExternal(
            files=[{"id": file_id, "title": title or filename}], channel_id=channel,
            thread_ts=thread_ts, initial_comment=comment,
        )  # fmt: skip
        return file_id
