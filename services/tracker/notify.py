"""The notification e-mail at the end of a migration or an undo.

Jobs are queued in Redis (:mod:`services.tracker.notify_queue`: a job stays there
until it is done, so a tracker killed at any point loses none; it is sent at least
once) and sent by a background thread through the operator's SMTP relay; a failed
send is logged and retried with growing pauses, and never changes the migration's
outcome.
"""

from __future__ import annotations

import json
import logging
import smtplib
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import redis

from services.tracker.notify_queue import NotifyQueue
from shared import redis_keys
from shared.config import SmtpSettings
from shared.counted import counted
from shared.migration_state import ITEM_TYPE_NAMES as PLURAL
from shared.migration_state import OPERATION_ITEM_TYPES, count
from shared.notify_due import PROJECT_NOTICE_SECONDS, notify_job
from shared.wire_text import is_single_address

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 12


def duration(fields: Mapping[str, str], end_field: str = "finished_at") -> str:
    try:
        start = datetime.fromisoformat(fields["created_at"])
        end = datetime.fromisoformat(fields[end_field])
    except (KeyError, ValueError):
        return "unknown"
    seconds = int((end - start).total_seconds())
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m {seconds % 60:02d}s"


def compose(mid: str, kind: str, fields: Mapping[str, str], errors: list[dict[str, Any]], sender: str,
            to: str) -> EmailMessage:
    """Pure: the message for the final state of a migration (kind "migration") or of an undo."""
    state = fields.get("state", "unknown")
    options = json.loads(fields.get("options", "[]"))
    lines = [f"Migration ID: {mid}", f"State: {state}", f"Source: {fields.get('source', '')}",
             f"Target: {fields.get('target', '')}", f"Started: {fields.get('created_at', '')}",
             f"Ended: {fields.get('finished_at' if kind == 'migration' else 'undo_finished_at', '')}"]
    if kind == "migration":
        lines.append(f"Duration: {duration(fields)}")
        lines.append("")
        lines.append("Items (done / skipped / failed of total):")
        for op in options:
            for t in OPERATION_ITEM_TYPES.get(op, ()):
                lines.append(f"  {PLURAL[t]}: {count(fields, f'done:{t}')} / {count(fields, f'skipped:{t}')} / "
                             f"{count(fields, f'failed:{t}')} of {count(fields, f'total:{t}')}")
    else:
        lines.append("")
        lines.append(f"Undo removed {counted(fields.get('undo_removed_messages', '0'), 'message')} and "
                     f"{counted(fields.get('undo_removed_folders', '0'), 'folder')}, and restored "
                     f"{counted(fields.get('undo_restored_settings', '0'), 'setting')}.")
    if errors:
        lines += ["", "First errors:"] + [f"  {e.get('folder', '')} {e.get('subject', '')}: {e.get('reason', '')}"
                                          for e in errors[:10]]
    if fields.get("error"):
        lines += ["", f"Reason: {fields['error']}"]
    lines += ["", "Keep the migration ID: with the source login it finds this migration again."]
    what = "Your mail migration" if kind == "migration" else "The undo of your mail migration"
    return message(f"{what} has ended: {state}", lines, sender, to)


def compose_project(name: str, state: str, lines: list[str], sender: str, to: str) -> EmailMessage:
    """Pure: the message at the end of an operator's project (its lines are intake's summary)."""
    return message(f"Your mailferry project has ended: {state}", lines, sender, to)


def message(subject: str, lines: list[str], sender: str, to: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = to
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="mailferry")
    msg.set_content("\n".join(lines) + "\n")
    return msg


class Notifier:
    """Queue in Redis that keeps a job until it is done (survives a tracker killed at any point: the mail is
    sent at least once), send from one thread, retry with back-off."""

    def __init__(self, r: redis.Redis, smtp: SmtpSettings,
                 build: Callable[[str, str], EmailMessage | None], clock: Callable[[], float] = time.time,
                 queue: NotifyQueue | None = None, settled: Callable[[str, str], None] | None = None) -> None:
        self.r = r
        self.smtp = smtp
        self.build = build
        self.settled = settled or (lambda _mid, _kind: None)  # a job done (sent, given up): on the record
        self.clock = clock
        self.queue = queue or NotifyQueue(r, clock=clock)
        self.stop = threading.Event()
        self.sent = 0
        self._last_recover = 0.0

    def enqueue(self, mid: str, kind: str) -> None:
        self.queue.put(notify_job(mid, kind))

    # A project's end is told from its notice (the encoded ProjectEnded), kept in Redis beside the queue until
    # it is told; the record keeps it too (``notice:<pid>``), so a rebuilt view puts it back while it is owed.
    def keep_notice(self, pid: str, notice: bytes) -> None:
        self.r.set(redis_keys.project_notice(pid), notice, ex=PROJECT_NOTICE_SECONDS)

    def notice(self, pid: str) -> bytes | None:
        raw = self.r.get(redis_keys.project_notice(pid))
        return raw.encode() if isinstance(raw, str) else raw

    def forget_notice(self, pid: str) -> None:
        self.r.delete(redis_keys.project_notice(pid))

    def send(self, msg: EmailMessage) -> None:
        # The envelope's one recipient is the To address, checked: never a list read out of the header.
        to = str(msg["To"] or "")
        if not is_single_address(to):
            raise smtplib.SMTPRecipientsRefused({to: (553, b"not one mail address; refused before sending")})
        with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=30) as smtp:
            if self.smtp.starttls:
                smtp.starttls()
            if self.smtp.user:
                smtp.login(self.smtp.user, self.smtp.password)
            smtp.send_message(msg, to_addrs=[to])

    def run_once(self) -> bool:
        """Take one job; returns False when there was nothing due. The job leaves the queue only once it
        was sent or given up."""
        raw = self.queue.take()
        if raw is None:
            return False
        job = json.loads(raw)
        if job["not_before"] > self.clock():  # queued for later by an earlier version
            self.queue.later(raw, raw, job["not_before"])
            return True
        try:
            msg = self.build(job["mid"], job["kind"])
        except redis.RedisError:
            raise
        except Exception:  # a job that can never become a mail must not come back for ever
            log.exception("notification cannot be composed; dropped", extra={"migration_id": job["mid"]})
            msg = None
        if msg is None:
            self.queue.done(raw)
            return True
        try:
            self.send(msg)
        except (OSError, smtplib.SMTPException) as exc:
            job["attempt"] += 1
            if job["attempt"] >= MAX_ATTEMPTS:
                log.error("notification given up", extra={"migration_id": job["mid"], "error": str(exc)})
                self.settled(job["mid"], job["kind"])
                self.queue.done(raw)
                return True
            job["not_before"] = self.clock() + min(2 ** job["attempt"], 600)
            log.warning("notification failed, will retry", extra={"migration_id": job["mid"], "error": str(exc),
                                                                  "attempt": job["attempt"]})
            self.queue.later(raw, json.dumps(job), job["not_before"])
            return True
        self.settled(job["mid"], job["kind"])
        self.queue.done(raw)
        self.sent += 1
        log.info("notification sent", extra={"migration_id": job["mid"], "kind": job["kind"]})
        return True

    def recover(self) -> None:
        """Now and then: the jobs of a sender that died, back on the queue."""
        if self.clock() - self._last_recover >= self.queue.lease_seconds / 3:
            self._last_recover = self.clock()
            if moved := self.queue.recover():
                log.warning("notifications of a stopped sender queued again", extra={"jobs": moved})

    def loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.recover()
                busy = self.run_once()
            except redis.RedisError as exc:
                log.warning("notification queue unreachable", extra={"error": str(exc)})
                busy = False
            if not busy:
                self.stop.wait(1.0)

    def keep_lease(self) -> None:
        """The lease renewed while this process lives, also during a long send."""
        while not self.stop.wait(self.queue.lease_seconds / 3):
            try:
                self.queue.heartbeat()
            except redis.RedisError as exc:
                log.warning("notification lease not renewed", extra={"error": str(exc)})

    def start(self) -> threading.Thread:
        threading.Thread(target=self.keep_lease, name="notifier-lease", daemon=True).start()
        thread = threading.Thread(target=self.loop, name="notifier", daemon=True)
        thread.start()
        return thread
