"""The Slack stand-in, checked with Slack's own clients: WebClient (with its retry handlers),
WebhookClient on response_urls, the aiohttp SocketModeClient, SignatureVerifier, and a real
Bolt AsyncApp over both HTTP and Socket Mode."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.app.async_server import AsyncSlackAppServer
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookClient

from sim.slack import FaultKind, HttpDelivery, SignatureMode, SlackHandle, start_slack
from sim.slack.transcript import render_event, stream_printer

C = "C0RELEASES"
APPROVAL_BLOCKS: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*isp 1.3.0* needs approval"}},
    {
        "type": "section",
        "fields": [
            {"type": "mrkdwn", "text": "*Requested by*\n<@U0ALICE>"},
            {"type": "mrkdwn", "text": "*Batch*\n2 of 5"},
        ],
    },
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "<https://x/r/1|rollout r1>"}]},
    {
        "type": "actions",
        "block_id": "approval",
        "elements": [
            {
                "type": "button",
                "action_id": "approve",
                "value": "r1",
                "style": "primary",
                "text": {"type": "plain_text", "text": "Approve"},
            },
            {
                "type": "button",
                "action_id": "reject",
                "value": "r1",
                "text": {"type": "plain_text", "text": "Reject"},
            },
        ],
    },
]


@pytest.fixture
def slack() -> Iterator[SlackHandle]:
    with start_slack(usergroups={"S0LEADS": ["U0BOB", "U0CAROL"]}, users={"U0ALICE": "alice"}) as h:
        yield h


@pytest.fixture
def client(slack: SlackHandle) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.api_url)


def api_error(exc: pytest.ExceptionInfo[SlackApiError]) -> Any:
    return exc.value.response["error"]


# ---- Web API -------------------------------------------------------------------------


def test_posts_threads_and_edits_are_kept_with_history(
    slack: SlackHandle, client: WebClient
) -> None:
    parent = client.chat_postMessage(channel=C, text="Deploying isp", blocks=APPROVAL_BLOCKS)
    reply = client.chat_postMessage(channel="#releases", text="plan", thread_ts=parent["ts"])
    client.chat_update(channel=C, ts=parent["ts"], text="Deployed isp", blocks=[])

    assert reply["channel"] == C and reply["message"]["thread_ts"] == parent["ts"]
    assert float(reply["ts"]) > float(parent["ts"])
    assert [m.ts for m in slack.messages(C)] == [parent["ts"]]
    top, answer = slack.thread(C, parent["ts"])
    assert (top.text, top.blocks, top.edited) == ("Deployed isp", [], True)
    assert top.versions[0].text == "Deploying isp" and answer.text == "plan"
    assert [c.method for c in slack.calls()] == ["chat.postMessage"] * 2 + ["chat.update"]
    assert slack.calls("chat.update")[0].args["ts"] == parent["ts"]


def test_directory_methods_answer_like_slack(slack: SlackHandle, client: WebClient) -> None:
    msg = client.chat_postMessage(channel=C, text="hi")
    assert client.auth_test()["user_id"] == "U0ROLLBOT"
    assert client.conversations_info(channel=C)["channel"]["name"] == "releases"
    assert client.users_info(user="U0ALICE")["user"]["name"] == "alice"
    assert client.usergroups_users_list(usergroup="S0LEADS")["users"] == ["U0BOB", "U0CAROL"]
    link = client.chat_getPermalink(channel=C, message_ts=msg["ts"])["permalink"]
    assert link.startswith(slack.base_url) and msg["ts"].replace(".", "") in link
    eph = client.chat_postEphemeral(channel=C, user="U0ALICE", text="only you")
    assert [e.text for e in slack.ephemerals("U0ALICE")] == ["only you"]
    assert eph["message_ts"]


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@pytest.mark.parametrize(
    ("method", "kwargs", "error"),
    [
        ("chat_postMessage", {"text": "x", "blocks": [section("x")] * 51}, "invalid_blocks"),
        ("chat_postMessage", {"text": "x", "blocks": [section("x" * 3001)]}, "invalid_blocks"),
        ("chat_postMessage", {"text": "x" * 40_001}, "msg_too_long"),
        ("chat_postMessage", {"channel": "C0NOPE", "text": "x"}, "channel_not_found"),
        ("chat_update", {"ts": "1.000001", "text": "x"}, "message_not_found"),
        ("chat_getPermalink", {"message_ts": "1.000001"}, "message_not_found"),
        ("usergroups_users_list", {"usergroup": "S0NONE"}, "no_such_subteam"),
    ],
)
def test_refusals_match_slack(
    slack: SlackHandle, client: WebClient, method: str, kwargs: dict[str, Any], error: str
) -> None:
    args = {"channel": C, **kwargs} if method.startswith("chat") else kwargs
    with pytest.raises(SlackApiError) as exc:
        getattr(client, method)(**args)
    assert api_error(exc) == error
    assert slack.messages(C) == [] and slack.calls()[-1].error == error


def test_tokens_are_checked(slack: SlackHandle) -> None:
    for token, error in [("xoxb-bad", "invalid_auth"), (None, "not_authed")]:
        with pytest.raises(SlackApiError) as exc:
            WebClient(token=token, base_url=slack.api_url).auth_test()
        assert api_error(exc) == error
    with pytest.raises(SlackApiError) as exc:
        WebClient(token=slack.bot_token, base_url=slack.api_url).apps_connections_open(
            app_token=slack.bot_token
        )
    assert api_error(exc) == "not_allowed_token_type"


def test_block_limits_are_inclusive_and_errors_name_the_field(client: WebClient) -> None:
    client.chat_postMessage(channel=C, text="ok", blocks=[section("x" * 3000)] * 50)
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel=C, text="x", blocks=[section("x"), section("x" * 3001)])
    messages = exc.value.response["response_metadata"]["messages"]
    assert messages == [
        "[ERROR] must be less than 3001 characters [json-pointer:/blocks/1/text/text]"
    ]


@pytest.mark.parametrize(
    ("field", "raw", "error"),
    [
        ("blocks", "{not json", "invalid_blocks_format"),
        ("blocks", "null", "invalid_blocks_format"),
        ("blocks", '{"type": "section"}', "invalid_blocks_format"),
        ("metadata", "{not json", "invalid_metadata_format"),
        ("metadata", "null", "invalid_metadata_format"),
        ("metadata", "[]", "invalid_metadata_format"),
        ("metadata", '{"event_type": 1}', "invalid_metadata_format"),
    ],
)
def test_json_arguments_that_are_not_the_right_shape_are_refused(
    client: WebClient, field: str, raw: str, error: str
) -> None:
    with pytest.raises(SlackApiError) as exc:
        client.api_call("chat.postMessage", data={"channel": C, "text": "x", field: raw})
    assert api_error(exc) == error


def test_json_arguments_may_come_as_form_text(slack: SlackHandle, client: WebClient) -> None:
    meta = {"event_type": "rollout", "event_payload": {"id": "r1"}}
    data = {"channel": C, "text": "x", "blocks": json.dumps([section("hi")])}
    client.api_call("chat.postMessage", data={**data, "metadata": json.dumps(meta)})
    [posted] = slack.messages(C)
    assert posted.blocks == [section("hi")] and posted.metadata == meta


# ---- faults and rate limits ----------------------------------------------------------


def test_429_is_retried_after_retry_after_and_posts_once(slack: SlackHandle) -> None:
    rule = slack.add_fault("chat.postMessage", FaultKind.RATE_LIMITED, retry_after=0, first=1)
    plain = WebClient(token=slack.bot_token, base_url=slack.api_url)
    with pytest.raises(SlackApiError) as exc:
        plain.chat_postMessage(channel=C, text="lost")
    assert exc.value.response.status_code == 429 and slack.messages(C) == []

    rule.seen = rule.fired = 0
    retrying = WebClient(
        token=slack.bot_token,
        base_url=slack.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    retrying.chat_postMessage(channel=C, text="once")
    assert [m.text for m in slack.messages(C)] == ["once"]
    assert [c.status for c in slack.calls("chat.postMessage")] == [429, 429, 200]


def test_5xx_is_retried_with_server_error_handler(slack: SlackHandle) -> None:
    slack.add_fault("chat.update", FaultKind.SERVER_ERROR, status=503, first=1)
    slack.add_fault("chat.postMessage", FaultKind.SERVER_ERROR, status=500, first=1)
    client = WebClient(
        token=slack.bot_token,
        base_url=slack.api_url,
        retry_handlers=[ServerErrorRetryHandler(max_retry_count=1)],
    )
    posted = client.chat_postMessage(channel=C, text="a")
    client.chat_update(channel=C, ts=posted["ts"], text="b")
    assert [c.status for c in slack.calls()] == [500, 200, 503, 200]
    assert [m.text for m in slack.messages(C)] == ["b"]


def test_dropped_connection_creates_nothing_and_is_retried(
    slack: SlackHandle, client: WebClient
) -> None:
    slack.add_fault("chat.postMessage", FaultKind.DROP, first=1)
    client.chat_postMessage(channel=C, text="after reconnect")  # default connection retry
    assert [c.fault for c in slack.calls()] == ["drop", None]
    assert len(slack.messages(C)) == 1


def test_a_scripted_refusal_answers_200_not_ok_and_changes_nothing(
    slack: SlackHandle, client: WebClient
) -> None:
    refuse = slack.add_fault(
        "chat.postMessage", FaultKind.API_ERROR, error="invalid_blocks", every_nth=2, times=1
    )
    slack.add_fault("chat.update", "api_error", error="msg_too_long", first=1)
    posted = [client.chat_postMessage(channel=C, text="1")]
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel=C, text="2", blocks=APPROVAL_BLOCKS)
    assert exc.value.response.status_code == 200 and api_error(exc) == "invalid_blocks"
    posted += [client.chat_postMessage(channel=C, text=t) for t in ("3", "4")]  # times=1 spent
    with pytest.raises(SlackApiError) as exc:
        client.chat_update(channel=C, ts=posted[0]["ts"], text="edited")
    assert api_error(exc) == "msg_too_long"

    assert [m.text for m in slack.messages(C)] == ["1", "3", "4"]
    assert not slack.messages(C)[0].edited
    faulted = [c for c in slack.calls() if c.fault]
    assert [(c.status, c.ok, c.error, c.fault) for c in faulted] == [
        (200, False, "invalid_blocks", "api_error"),
        (200, False, "msg_too_long", "api_error"),
    ]
    assert (refuse.seen, refuse.fired) == (4, 1)


def test_a_fault_can_be_narrowed_to_calls_with_certain_arguments(
    slack: SlackHandle, client: WebClient
) -> None:
    rule = slack.add_fault(
        "chat.postMessage",
        FaultKind.API_ERROR,
        error="invalid_blocks",
        first=1,
        where=lambda args: "approval" in str(args.get("text", "")),
    )
    parent = client.chat_postMessage(channel=C, text="rollout r1")
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel=C, text="needs approval", thread_ts=parent["ts"])
    assert api_error(exc) == "invalid_blocks"
    client.chat_postMessage(channel=C, text="needs approval", thread_ts=parent["ts"])

    assert [m.text for m in slack.thread(C, parent["ts"])] == ["rollout r1", "needs approval"]
    assert (rule.seen, rule.fired) == (2, 1)  # the parent was not counted


def test_probability_faults_repeat_with_the_same_seed(slack: SlackHandle) -> None:
    def pattern() -> list[bool]:
        rule = slack.add_fault("auth.test", probability=0.5, seed=7)
        fired = [rule.decide() for _ in range(20)]
        slack.clear_faults()
        return fired

    first = pattern()
    assert first == pattern() and 0 < sum(first) < 20


def test_rate_limit_is_recorded_and_optionally_enforced(
    slack: SlackHandle, client: WebClient
) -> None:
    client.chat_postMessage(channel=C, text="1")
    client.chat_postMessage(channel=C, text="2")
    assert len(slack.rate_violations(C)) == 1 and len(slack.post_times(C)) == 2

    slack.enforce_rate_limit(retry_after=1)
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel=C, text="3")
    assert api_error(exc) == "ratelimited"
    assert exc.value.response.headers["Retry-After"] == "1"
    assert len(slack.messages(C)) == 2
    client.chat_postMessage(channel="C0STAKEHOLDERS", text="other channel is fine")


# ---- signed requests over HTTP, and response_urls ------------------------------------


class Receiver:
    """A tiny bot endpoint that checks signatures with slack_sdk and keeps what it got."""

    def __init__(self, secret: str, reply: str = "") -> None:
        self.verifier = SignatureVerifier(secret)
        self.reply = reply
        self.bodies: list[dict[str, list[str]]] = []

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if not self.verifier.is_valid_request(raw, dict(request.headers)):
            return web.Response(status=401, text="invalid signature")
        self.bodies.append(parse_qs(raw.decode()))
        return web.Response(text=self.reply)


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """`app` on a free loopback port, for as long as the block runs: its `/slack/events` URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
    finally:
        await runner.cleanup()


@pytest.fixture
async def receiver(slack: SlackHandle) -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver(slack.signing_secret, reply="Working on it")
    app = web.Application()
    app.router.add_post("/slack/events", rec.handle)
    async with serving(app) as url:
        yield rec, url


async def click_on_approval(
    slack: SlackHandle, url: str, *, action_id: str
) -> tuple[str, HttpDelivery]:
    """The bot posts the approval message; U0BOB clicks `action_id` on it. Its ts and the click."""
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    msg = await asyncio.to_thread(
        client.chat_postMessage, channel=C, text="approve?", blocks=APPROVAL_BLOCKS
    )
    sent = await slack.send_block_action_async(
        url, action_id=action_id, user_id="U0BOB", message_ts=msg["ts"], channel_id=C
    )
    return msg["ts"], sent


async def test_signed_slash_command_reaches_the_bot(slack: SlackHandle, receiver: Any) -> None:
    rec, url = receiver
    sent = await slack.send_slash_command_async(
        url, text="isp 1.3.0 batch=5", user_id="U0ALICE", channel_id=C
    )
    assert sent.status == 200 and sent.within_deadline
    form = {k: v[0] for k, v in rec.bodies[0].items()}
    assert form["command"] == "/deploy" and form["text"] == "isp 1.3.0 batch=5"
    assert (form["user_id"], form["user_name"], form["channel_name"]) == (
        "U0ALICE",
        "alice",
        "releases",
    )
    assert form["response_url"] == sent.response_url and form["trigger_id"]
    assert [(e.text, e.source) for e in slack.ephemerals("U0ALICE")] == [("Working on it", "ack")]


@pytest.mark.parametrize("mode", [SignatureMode.UNSIGNED, SignatureMode.WRONG, SignatureMode.STALE])
async def test_badly_signed_requests_are_refused(
    slack: SlackHandle, receiver: Any, mode: SignatureMode
) -> None:
    rec, url = receiver
    sent = await slack.send_slash_command_async(
        url, text="isp 1.3.0", user_id="U0ALICE", channel_id=C, signature=mode
    )
    assert sent.status == 401 and rec.bodies == []


async def test_block_action_payload_carries_the_clicked_message(
    slack: SlackHandle, receiver: Any
) -> None:
    rec, url = receiver
    ts, sent = await click_on_approval(slack, url, action_id="approve")
    payload = json.loads(rec.bodies[0]["payload"][0])
    action = payload["actions"][0]
    assert sent.status == 200 and payload["type"] == "block_actions"
    assert (action["action_id"], action["value"], action["block_id"]) == (
        "approve",
        "r1",
        "approval",
    )
    assert payload["container"] == {
        "type": "message",
        "message_ts": ts,
        "channel_id": C,
        "is_ephemeral": False,
    }
    assert payload["message"]["blocks"] == APPROVAL_BLOCKS
    assert payload["user"]["id"] == "U0BOB" and payload["channel"]["id"] == C
    assert payload["response_url"] == sent.response_url and payload["trigger_id"]


async def test_response_urls_reply_replace_delete_and_wear_out(
    slack: SlackHandle, receiver: Any
) -> None:
    _, url = receiver
    ts, click = await click_on_approval(slack, url, action_id="reject")
    hook = WebhookClient(click.response_url)

    def use(**body: Any) -> int:
        return hook.send_dict(body).status_code

    statuses = await asyncio.to_thread(
        lambda: [
            use(text="Only you can see this"),
            use(text="Rejected by <@U0BOB>", replace_original=True),
            use(text="said in channel", response_type="in_channel"),
            use(delete_original=True),
            use(text="fifth"),
            use(text="sixth"),
        ]
    )
    assert statuses == [200, 200, 200, 200, 200, 404]
    assert [e.text for e in slack.ephemerals("U0BOB")] == ["Only you can see this", "fifth"]
    assert slack.message(C, ts).text == "Rejected by <@U0BOB>"  # type: ignore[union-attr]
    assert [m.text for m in slack.messages(C)] == ["said in channel"]
    assert slack.responses(click.response_url)[-1].error == "used_url"


# ---- Socket Mode ---------------------------------------------------------------------


async def socket_client(slack: SlackHandle) -> SocketModeClient:
    web_client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    client = SocketModeClient(app_token=slack.app_token, web_client=web_client, ping_interval=0.5)

    async def ack(c: Any, req: SocketModeRequest) -> None:
        text = f"got {req.payload.get('text')}"
        await c.send_socket_mode_response(SocketModeResponse(req.envelope_id, {"text": text}))

    client.socket_mode_request_listeners.append(ack)
    await client.connect()  # type: ignore[no-untyped-call]
    return client


async def test_socket_mode_delivers_acks_and_survives_reconnects(slack: SlackHandle) -> None:
    client = await socket_client(slack)
    try:
        await slack.wait_socket_connected_async(1)
        first = await slack.send_slash_command_socket_async(
            text="isp 1.3.0", user_id="U0ALICE", channel_id=C
        )
        assert first.within_deadline
        assert first.ack_payload == {"text": "got isp 1.3.0"}
        assert slack.ephemerals("U0ALICE")[0].text == "got isp 1.3.0"

        assert slack.request_reconnect()
        await slack.wait_socket_connected_async(2)
        second = await slack.send_slash_command_socket_async(text="b", user_id="U0A", channel_id=C)
        assert second.acked and second.connection_id == 2

        assert slack.drop_connection()  # abrupt: the client notices on its next ping
        await slack.wait_socket_connected_async(3, timeout=5)
        third = await slack.send_slash_command_socket_async(text="c", user_id="U0A", channel_id=C)
        assert third.acked and third.connection_id == 3
        assert len(slack.calls("apps.connections.open")) == 3
    finally:
        await client.close()  # type: ignore[no-untyped-call]


async def test_unacked_envelope_times_out(slack: SlackHandle) -> None:
    silent = await socket_client(slack)
    silent.socket_mode_request_listeners.clear()
    try:
        await slack.wait_socket_connected_async(1)
        result = await slack.send_slash_command_socket_async(
            text="x", user_id="U0A", channel_id=C, timeout=0.3
        )
        assert not result.acked and result.latency is None
    finally:
        await silent.close()  # type: ignore[no-untyped-call]


# ---- a real Bolt app against the stand-in --------------------------------------------


def bolt_app(slack: SlackHandle) -> AsyncApp:
    app = AsyncApp(
        signing_secret=slack.signing_secret,
        client=AsyncWebClient(token=slack.bot_token, base_url=slack.api_url),
    )

    @app.command("/deploy")
    async def deploy(ack: Any, command: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.chat_postMessage(
            channel=command["channel_id"],
            text=f"Deploying {command['text']}",
            blocks=APPROVAL_BLOCKS,
        )

    @app.action("approve")
    async def approve(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        await respond(text=f"Approved by <@{body['user']['id']}>", replace_original=True)

    return app


async def run_bolt_conversation(slack: SlackHandle, send: Any) -> None:
    await send("/deploy", text="isp 1.3.0")
    posted = await slack.wait_for_message_async(C, "needs approval")
    await send("approve", message_ts=posted.ts)
    await slack.wait_for_async(lambda: "Approved" in slack.message(C, posted.ts).text)  # type: ignore[union-attr]
    assert "Approved by @U0BOB (edited)" in slack.transcript(C)


async def test_bolt_app_over_http(slack: SlackHandle) -> None:
    server = AsyncSlackAppServer(port=0, path="/slack/events", app=bolt_app(slack))
    async with serving(server.web_app) as url:

        async def send(what: str, *, text: str = "", message_ts: str = "") -> None:
            if what.startswith("/"):
                sent = await slack.send_slash_command_async(
                    url, text=text, user_id="U0ALICE", channel_id=C
                )
            else:
                sent = await slack.send_block_action_async(
                    url, action_id=what, user_id="U0BOB", message_ts=message_ts, channel_id=C
                )
            assert sent.status == 200 and sent.within_deadline

        await run_bolt_conversation(slack, send)


async def test_bolt_app_over_socket_mode(slack: SlackHandle) -> None:
    handler = AsyncSocketModeHandler(bolt_app(slack), app_token=slack.app_token)
    await handler.connect_async()  # type: ignore[no-untyped-call]

    async def send(what: str, *, text: str = "", message_ts: str = "") -> None:
        if what.startswith("/"):
            sent = await slack.send_slash_command_socket_async(
                text=text, user_id="U0ALICE", channel_id=C
            )
        else:
            sent = await slack.send_block_action_socket_async(
                action_id=what, user_id="U0BOB", message_ts=message_ts, channel_id=C
            )
        assert sent.acked

    try:
        await run_bolt_conversation(slack, send)
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]


# ---- transcript, streaming, waiting --------------------------------------------------


def test_transcript_renders_a_thread_readably(slack: SlackHandle, client: WebClient) -> None:
    parent = client.chat_postMessage(channel=C, text="fallback", blocks=APPROVAL_BLOCKS)
    client.chat_postMessage(
        channel=C, text="Batch 1: 5 ok, 1 failed (<@U0ALICE>)", thread_ts=parent["ts"]
    )
    client.chat_postMessage(channel=C, text="Batch 2: 5 ok", thread_ts=parent["ts"])
    assert slack.transcript(C) == (
        "rollbot: *isp 1.3.0* needs approval\n"
        "         *Requested by* @alice | *Batch* 2 of 5\n"
        "         rollout r1 (https://x/r/1)\n"
        "         [Approve] [Reject]\n"
        "    rollbot: Batch 1: 5 ok, 1 failed (@alice)\n"
        "    rollbot: Batch 2: 5 ok\n"
    )


def test_stream_printer_sees_posts_replies_and_edits(slack: SlackHandle, client: WebClient) -> None:
    lines: list[str] = []
    unsubscribe = slack.on_event(stream_printer(lines.append, channel_names={C: "releases"}))
    parent = client.chat_postMessage(channel=C, text="Deploying isp")
    client.chat_postMessage(channel=C, text="plan: 3 batches", thread_ts=parent["ts"])
    client.chat_update(channel=C, ts=parent["ts"], text="Deployed isp")
    unsubscribe()
    client.chat_postMessage(channel=C, text="unseen")
    assert len(lines) == 3
    assert lines[0].endswith("#releases rollbot: Deploying isp")
    assert lines[1].endswith("#releases     rollbot: plan: 3 batches")
    assert "edited" in lines[2] and lines[2].endswith("rollbot: Deployed isp (edited)")


def test_ephemerals_are_marked_as_private_in_the_stream(slack: SlackHandle) -> None:
    events: list[Any] = []
    slack.on_event(events.append)
    slack.workspace.post_ephemeral(C, user="U0ALICE", text="psst")
    assert "only U0ALICE sees this" in render_event(events[0])


def test_wait_for_times_out_and_refuses_to_block_a_loop(slack: SlackHandle) -> None:
    with pytest.raises(TimeoutError):
        slack.wait_for(lambda: slack.messages(C), timeout=0.05)

    async def inside_a_loop() -> None:
        with pytest.raises(RuntimeError, match="wait_for_async"):
            slack.wait_for(lambda: True)

    asyncio.run(inside_a_loop())


def test_every_blocking_driver_refuses_a_loop_and_names_its_async_twin(
    slack: SlackHandle,
) -> None:
    calls: dict[str, Callable[[], object]] = {
        "send_slash_command": lambda: slack.send_slash_command(
            "http://127.0.0.1:9/", text="x", user_id="U0A", channel_id=C
        ),
        "send_block_action": lambda: slack.send_block_action(
            "http://127.0.0.1:9/", action_id="a", user_id="U0A", message_ts="1.0", channel_id=C
        ),
        "send_slash_command_socket": lambda: slack.send_slash_command_socket(
            text="x", user_id="U0A", channel_id=C
        ),
        "send_block_action_socket": lambda: slack.send_block_action_socket(
            action_id="a", user_id="U0A", message_ts="1.0", channel_id=C
        ),
        "wait_socket_connected": lambda: slack.wait_socket_connected(1, timeout=0.01),
        "wait_for_message": lambda: slack.wait_for_message(C, "x", timeout=0.01),
    }

    async def inside_a_loop() -> None:
        for name, call in calls.items():
            with pytest.raises(RuntimeError, match=rf"^{name}\(\) blocks; .* {name}_async\(\)$"):
                call()

    asyncio.run(inside_a_loop())
    assert SlackHandle.send_slash_command.__name__ == "send_slash_command"
    assert SlackHandle.wait_for_async.__name__ == "wait_for_async"
    assert "signed slash command" in (SlackHandle.send_slash_command_async.__doc__ or "")
