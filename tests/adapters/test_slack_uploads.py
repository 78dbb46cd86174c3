"""Uploading a file to a thread the way Slack takes files now: files.getUploadURLExternal,
the bytes POSTed to the URL it answers, then files.completeUploadExternal; through
slack_sdk's WebClient against the Slack stand-in.

Given a thread in the release channel, when the bot uploads a step's log into it, then the
stand-in holds the file with its bytes and title, shared in that thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.uploads import SlackUploader
from rollout.errors import ChatError
from sim.slack import SlackHandle, start_slack

C = "C0RELEASES"


@pytest.fixture
def slack() -> Iterator[SlackHandle]:
    with start_slack() as handle:
        yield handle


@pytest.fixture
def client(slack: SlackHandle) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.api_url)


def test_a_log_is_uploaded_into_the_thread(
    slack: SlackHandle, client: WebClient, tmp_path: Path
) -> None:
    parent = client.chat_postMessage(channel=C, text="Release R7 v1.3.1")["ts"]
    log = tmp_path / "image-isp.log"
    log.write_text("Step 4/6 : RUN exit 7\nERROR: returned a non-zero code: 7\n")

    uploaded = SlackUploader(client).upload_file(log, channel=C, thread_ts=parent,
                                                 title="R7 image:isp log")

    (stored,) = slack.files()
    assert (stored.id, stored.name, stored.title) == (uploaded.file_id, "image-isp.log",
                                                      "R7 image:isp log")
    assert stored.content == log.read_bytes()
    assert (stored.channel, stored.thread_ts, stored.completed) == (C, parent, True)
    replies = slack.thread(C, parent)
    assert replies[-1].ts == stored.shared_ts
    assert "R7 image:isp log" in replies[-1].text
    assert [c.method for c in slack.calls() if c.method.startswith("files.")] == [
        "files.getUploadURLExternal", "files.completeUploadExternal"]


def test_the_stand_in_refuses_what_slack_refuses(slack: SlackHandle, client: WebClient) -> None:
    """Given an upload URL asked for but no bytes sent, when it is completed, then
    file_not_found; and an unknown channel is refused as Slack would."""
    asked = client.files_getUploadURLExternal(filename="x.log", length=3)
    uploader = SlackUploader(client)
    with pytest.raises(SlackApiError) as unsent:
        client.files_completeUploadExternal(files=[{"id": asked["file_id"]}], channel_id=C)
    assert unsent.value.response["error"] == "file_not_found"
    with pytest.raises(SlackApiError) as nameless:
        client.files_getUploadURLExternal(filename="", length=3)
    assert nameless.value.response["error"] == "invalid_arguments"
    with pytest.raises(ChatError, match=r"Slack refused the upload of y\.log: channel_not_found"):
        uploader.upload(channel="C0NOWHERE", content=b"log", filename="y.log")


def test_the_upload_url_takes_a_multipart_form_too(slack: SlackHandle, client: WebClient) -> None:
    """Given an upload URL, when the bytes come as a form with a file part (as browsers and
    some SDKs send them), then the stand-in stores the file's bytes."""
    import requests

    asked = client.files_getUploadURLExternal(filename="build.log", length=5)
    with requests.post(str(asked["upload_url"]), files={"file": ("build.log", b"hello")},
                       timeout=10) as reply:
        assert reply.status_code == 200
    client.files_completeUploadExternal(files=[{"id": asked["file_id"]}])
    (stored,) = slack.files()
    assert (stored.content, stored.completed, stored.channel) == (b"hello", True, None)
