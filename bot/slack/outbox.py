"""The outbox: every Slack message rollbot owes, in the journal, until Slack has it.

Engine events become rows here first (`publish` only writes SQLite), and one worker sends
them, so nothing is lost when Slack is slow, down or rate-limited, or when rollbot
restarts. The tables live in the engine's own SQLite file (``ROLLBOT_DB``) next to its
journal, created when absent; they are rollbot's Slack side and nothing else reads them.

- ``slack_outbox``: one row per post, edit, file upload or App Home view, in order
  (``id``); ``status`` is pending, sent or failed. ``unsure`` is set before a post is
  attempted and cleared once Slack's answer says whether it was posted, so after a crash
  or a lost answer the worker looks the row's ``key`` up in the channel before posting
  it again. Edits of one message are coalesced: a newer edit overwrites a pending one
  (``revision`` bumped), and a post not yet sent simply takes the newer content; so do
  the views of one person's Home tab. An upload (a release step's log) names its file in
  ``upload`` and, once Slack gave it an ID, ``file_id``: a share whose answer was lost is
  looked up by that ID before the file is sent again.
- ``slack_refs``: messages found again by name (see :mod:`bot.slack.refs`): channel, ts,
  the text they were posted with, their permalink once asked for.

Marking a row sent and recording its ref is one transaction.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from sqlite_utils import Database

from bot.slack.refs import Ref
from bot.store import connect, write_transaction
from handlers.render import Message

Op = Literal["post", "update", "upload", "view"]
# What replaces what Slack shows: sent as often as asked, a newer one folded into one still
# queued, never looked up before it is sent again (sending it twice changes nothing). A
# `view` is a person's App Home tab (`channel` is their user ID, `ref` names the tab).
REPLACING: tuple[Op, ...] = ("update", "view")
RefState = Literal["sent", "pending", "missing"]


@dataclass(frozen=True)
class Upload:
    """A file to share: where it is on disk now, and how Slack shows it."""

    path: str
    filename: str
    title: str


@dataclass(frozen=True)
class Outgoing:
    """A message to send. For a post, `ref` names it for later; for an update, `ref` is
    the message edited. `link` fills :data:`bot.slack.refs.LINK_SLOT` with that ref's
    permalink; `unlinked` is sent instead when there is no such message. An upload shares
    `upload` with `message`'s text as its comment; like a post, once per `ref`."""

    op: Op
    channel: str
    message: Message
    rollout_id: int | None = None
    ref: str | None = None
    thread: str | None = None
    link: str | None = None
    unlinked: Message | None = None
    purpose: str = ""
    broadcast: bool = False
    upload: Upload | None = None


@dataclass(frozen=True)
class Row:
    """A row of the outbox as the worker sends it."""

    id: int
    key: str
    channel: str
    op: Op
    rollout_id: int | None
    ref: str | None
    thread: str | None
    link: str | None
    text: str
    blocks: list[dict[str, Any]] | None
    unlinked: dict[str, Any] | None
    broadcast: bool
    revision: int
    unsure: bool
    attempts: int
    fallback: bool
    created_at: float
    upload: Upload | None = None
    file_id: str | None = None


def _create_tables(db: Database) -> None:
    db.table("slack_outbox").create(
        {
            "id": int, "key": str, "channel": str, "op": str, "rollout_id": int, "ref": str,
            "thread": str, "link": str, "purpose": str, "text": str, "blocks": str,
            "unlinked": str, "broadcast": int, "revision": int, "status": str, "unsure": int,
            "attempts": int, "fallback": int, "error": str, "ts": str, "created_at": float,
            "sent_at": float, "upload": str, "file_id": str,
        },
        pk="id",
        not_null={"key", "channel", "op", "text", "status"},
        defaults={"revision": 0, "unsure": 0, "attempts": 0, "fallback": 0, "broadcast": 0},
        if_not_exists=True,
    )  # fmt: skip
    db.table("slack_outbox").create_index(["status", "channel", "id"], if_not_exists=True)
    db.table("slack_outbox").create_index(["ref", "op"], if_not_exists=True)
    db.table("slack_outbox").create_index(["key"], unique=True, if_not_exists=True)
    columns = db.table("slack_outbox").columns_dict
    for added in ("upload", "file_id"):  # outboxes written before uploads lack them
        if added not in columns:
            db.table("slack_outbox").add_column(added, str)
    db.table("slack_refs").create(
        {"name": str, "rollout_id": int, "channel": str, "ts": str, "text": str, "permalink": str},
        pk="name",
        if_not_exists=True,
    )
    db.table("slack_refs").create_index(["channel", "ts"], if_not_exists=True)


def _blocks_json(message: Message) -> str | None:
    return json.dumps(list(message.blocks)) if message.blocks else None


def _row(record: dict[str, Any]) -> Row:
    return Row(
        id=record["id"],
        key=record["key"],
        channel=record["channel"],
        op=record["op"],
        rollout_id=record["rollout_id"],
        ref=record["ref"],
        thread=record["thread"],
        link=record["link"],
        text=record["text"],
        blocks=json.loads(record["blocks"]) if record["blocks"] else None,
        unlinked=json.loads(record["unlinked"]) if record["unlinked"] else None,
        broadcast=bool(record["broadcast"]),
        revision=record["revision"],
        unsure=bool(record["unsure"]),
        attempts=record["attempts"],
        fallback=bool(record["fallback"]),
        created_at=record["created_at"],
        upload=Upload(**json.loads(record["upload"])) if record["upload"] else None,
        file_id=record["file_id"],
    )


class Outbox:
    """The two tables on one connection, shared by publishers and the worker."""

    def __init__(self, path: str | Path) -> None:
        # Synced like the journal (see bot.store.connect): `unsure`, set before a post
        # goes out, must survive a power cut, or a post whose answer was lost is sent twice.
        self._db = connect(str(path), autocommit=True)
        self._lock = threading.RLock()
        try:
            with self._write() as db:
                _create_tables(db)
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self) -> AbstractContextManager[Database]:
        return write_transaction(self._db, self._lock)

    def _one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        with self._lock:
            found = list(self._db.query(sql, params))
        return found[0] if found else None

    # --- publishing ---------------------------------------------------------------------

    def enqueue(self, items: Sequence[Outgoing]) -> None:
        """Queue one event's messages at once; edits of a message still queued coalesce."""
        with self._write() as db:
            for item in items:
                if item.op in REPLACING and item.ref and _coalesce(db, item):
                    continue
                _insert(db, item)

    # --- what the composer asks ---------------------------------------------------------

    def queued(self, ref: str) -> bool:
        """A post under this name was ever queued (sent, pending or failed)."""
        sql = "SELECT 1 FROM slack_outbox WHERE ref = ? AND op = 'post'"
        return self._one(sql, [ref]) is not None

    def text_of(self, ref: str) -> str | None:
        found = self._one(
            "SELECT text FROM slack_outbox WHERE ref = ? AND op = 'post' ORDER BY id LIMIT 1", [ref]
        )
        return None if found is None else str(found["text"])

    def decided(self, ref: str) -> bool:
        sql = "SELECT 1 FROM slack_outbox WHERE ref = ? AND purpose = 'decided'"
        return self._one(sql, [ref]) is not None

    def open_messages(self, rollout_id: int, purpose: str) -> list[str]:
        """A rollout's approval requests or failure choices that are not decided yet."""
        with self._lock:
            rows = self._db.query(
                "SELECT ref FROM slack_outbox o WHERE rollout_id = ? AND op = 'post' "
                "AND purpose = ? AND NOT EXISTS (SELECT 1 FROM slack_outbox d "
                "WHERE d.ref = o.ref AND d.purpose = 'decided') ORDER BY id",
                [rollout_id, purpose],
            )
            return [str(r["ref"]) for r in rows]

    # --- what the worker asks -----------------------------------------------------------

    def heads(self) -> list[Row]:
        """The oldest pending row of every channel: each channel is sent strictly in order."""
        with self._lock:
            records = list(
                self._db.query(
                    "SELECT * FROM slack_outbox WHERE id IN (SELECT MIN(id) FROM slack_outbox "
                    "WHERE status = 'pending' GROUP BY channel) ORDER BY id"
                )
            )
        return [_row(r) for r in records]

    def behind(self, row: Row) -> bool:
        """Whether a message of the same rollout queued before `row` in another channel is
        still unsent: a notify line waits for the thread message it sums up."""
        if row.rollout_id is None:
            return False
        found = self._one(
            "SELECT 1 AS n FROM slack_outbox WHERE status = 'pending' AND rollout_id = ? "
            "AND id < ? AND channel != ? LIMIT 1",
            [row.rollout_id, row.id, row.channel],
        )
        return found is not None

    def pending_count(self) -> int:
        found = self._one("SELECT COUNT(*) AS n FROM slack_outbox WHERE status = 'pending'")
        return int(found["n"]) if found else 0

    def last_sent(self, channel: str) -> float | None:
        """Wall-clock time of the channel's last message Slack took, from any run."""
        sql = "SELECT MAX(sent_at) AS at FROM slack_outbox WHERE channel = ? AND status = 'sent'"
        found = self._one(sql, [channel])
        return None if found is None or found["at"] is None else float(found["at"])

    def ref(self, name: str) -> Ref | None:
        found = self._one("SELECT * FROM slack_refs WHERE name = ?", [name])
        if found is None:
            return None
        return Ref(
            name=found["name"],
            channel=found["channel"],
            ts=found["ts"],
            text=found["text"],
            rollout_id=found["rollout_id"],
            permalink=found["permalink"],
        )

    def ref_at(self, channel: str, ts: str) -> Ref | None:
        found = self._one("SELECT name FROM slack_refs WHERE channel = ? AND ts = ?", [channel, ts])
        return None if found is None else self.ref(str(found["name"]))

    def ref_state(self, name: str) -> tuple[RefState, Ref | None]:
        """Sent (with the ref), still pending, or missing (never queued, or it failed)."""
        found = self.ref(name)
        if found is not None:
            return "sent", found
        sql = "SELECT 1 FROM slack_outbox WHERE ref = ? AND op = 'post' AND status = 'pending'"
        return ("pending" if self._one(sql, [name]) else "missing"), None

    def set_permalink(self, name: str, link: str) -> None:
        with self._write() as db:
            db.execute("UPDATE slack_refs SET permalink = ? WHERE name = ?", [link, name])

    # --- the worker's records -----------------------------------------------------------

    def attempting(self, row: Row) -> None:
        """Before a post or an upload goes out: from here until Slack answers, it may or may
        not exist."""
        with self._write() as db:
            db.execute(
                "UPDATE slack_outbox SET attempts = attempts + 1, unsure = ? WHERE id = ?",
                [0 if row.op in REPLACING else 1, row.id],
            )

    def note_file(self, row: Row, file_id: str) -> None:
        """The ID Slack gave an upload's file, kept before the file is shared."""
        with self._write() as db:
            db.execute("UPDATE slack_outbox SET file_id = ? WHERE id = ?", [file_id, row.id])

    def not_sent(self, row: Row, *, error: str) -> None:
        """Slack answered and did not post it (429, or an error): no need to look it up."""
        with self._write() as db:
            db.execute(
                "UPDATE slack_outbox SET unsure = 0, error = ? WHERE id = ?", [error, row.id]
            )

    def note_error(self, row: Row, *, error: str) -> None:
        with self._write() as db:
            db.execute("UPDATE slack_outbox SET error = ? WHERE id = ?", [error, row.id])

    def sent(self, row: Row, *, ts: str) -> bool:
        """Record that Slack has the row; False when an edit changed under way (resend it)."""
        with self._write() as db:
            current = db.execute(
                "SELECT revision, text, blocks FROM slack_outbox WHERE id = ?", [row.id]
            ).fetchone()
            if row.op in REPLACING and current is not None and current[0] != row.revision:
                return False
            db.execute(
                "UPDATE slack_outbox SET status = 'sent', ts = ?, unsure = 0, sent_at = ? "
                "WHERE id = ?",
                [ts, time.time(), row.id],
            )
            if row.op == "post" and row.ref:
                db.execute(
                    "INSERT OR REPLACE INTO slack_refs (name, rollout_id, channel, ts, text) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [row.ref, row.rollout_id, row.channel, ts, row.text],
                )
            if row.op == "post" and row.ref and current is not None and current[0] != row.revision:
                # Newer content arrived while it was being posted: send it as an edit.
                newer = Message(text=current[1], blocks=tuple(json.loads(current[2] or "[]")))
                _insert(db, Outgoing("update", row.channel, newer, row.rollout_id, ref=row.ref))
        return True

    def failed(self, row: Row, *, error: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE slack_outbox SET status = 'failed', unsure = 0, error = ? WHERE id = ?",
                [error, row.id],
            )

    def fall_back(self, row: Row, *, text: str, error: str) -> None:
        """Slack refused the content: send `text` alone in its place."""
        with self._write() as db:
            db.execute(
                "UPDATE slack_outbox SET fallback = 1, text = ?, blocks = NULL, unsure = 0, "
                "error = ? WHERE id = ?",
                [text, error, row.id],
            )

    def drop_link(self, row: Row) -> None:
        """The linked message will never exist: send the line without its link."""
        unlinked = row.unlinked or {"text": row.text, "blocks": row.blocks}
        with self._write() as db:
            db.execute(
                "UPDATE slack_outbox SET link = NULL, text = ?, blocks = ? WHERE id = ?",
                [unlinked["text"], json.dumps(unlinked["blocks"]) if unlinked["blocks"] else None,
                 row.id],
            )  # fmt: skip

    def prune(self, *, sent_before: float) -> int:
        """Forget edits Slack took before `sent_before` (wall clock); returns how many.

        Edits are most of the outbox (every change of a parent message is one) and nothing
        reads them once sent. Posts stay: they are what makes a message go out once per
        name, and what a click on an old message is matched with; so do edits that closed
        an approval or a choice (a second click must not edit it again), and failed rows,
        which say what Slack refused."""
        with self._write() as db:
            cursor = db.execute(
                "DELETE FROM slack_outbox WHERE status = 'sent' AND op IN ('update', 'view') "
                "AND COALESCE(purpose, '') != 'decided' AND sent_at < ?",
                [sent_before],
            )
            return int(cursor.rowcount)

    def status_counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.query("SELECT status, COUNT(*) AS n FROM slack_outbox GROUP BY status")
            return {str(r["status"]): int(r["n"]) for r in rows}


def _insert(db: Database, item: Outgoing) -> None:
    if item.op not in REPLACING and item.ref is not None:
        seen = db.execute(
            "SELECT 1 FROM slack_outbox WHERE ref = ? AND op = ?", [item.ref, item.op]
        ).fetchone()
        if seen:
            return  # posted (or uploaded) once per name, whatever republishes the event
    unlinked = item.unlinked
    db.execute(
        "INSERT INTO slack_outbox (key, channel, op, rollout_id, ref, thread, link, purpose, "
        "text, blocks, unlinked, broadcast, upload, status, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
        [
            uuid.uuid4().hex, item.channel, item.op, item.rollout_id, item.ref, item.thread,
            item.link, item.purpose, item.message.text, _blocks_json(item.message),
            json.dumps({"text": unlinked.text, "blocks": list(unlinked.blocks) or None})
            if unlinked else None,
            int(item.broadcast), json.dumps(asdict(item.upload)) if item.upload else None,
            time.time(),
        ],
    )  # fmt: skip


def _coalesce(db: Database, item: Outgoing) -> bool:
    """Fold an edit into what is still queued for the message; False when nothing is."""
    target = db.execute(
        "SELECT id FROM slack_outbox WHERE ref = ? AND status = 'pending' "
        "AND (op = ? OR (op = 'post' AND unsure = 0 AND attempts = 0)) "
        "ORDER BY id DESC LIMIT 1",
        [item.ref, item.op],
    ).fetchone()
    if target is None:
        return False
    purpose = ", purpose = ?" if item.purpose else ""
    extra = [item.purpose] if item.purpose else []
    db.execute(
        "UPDATE slack_outbox SET text = ?, blocks = ?, fallback = 0, revision = revision + 1"
        f"{purpose} WHERE id = ?",
        [item.message.text, _blocks_json(item.message), *extra, target[0]],
    )
    return True
