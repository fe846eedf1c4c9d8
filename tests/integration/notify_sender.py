"""A notification sender in a process of its own, for the tests that kill one (``python -m`` this module).

``REDIS_URL SMTP_PORT MODE MARKER``: ``send`` composes a small mail and sends it; ``stuck`` writes
``MARKER`` once it holds a job and then never gets to the send, like a sender killed in between.
"""

from __future__ import annotations

import sys
import time
from email.message import EmailMessage
from pathlib import Path

import redis

from services.tracker.notify import Notifier
from shared.config import SmtpSettings


def mail(mid: str, kind: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"{kind} {mid}"
    msg["From"] = "mailferry@ops.test"
    msg["To"] = "owner@customer.test"
    msg.set_content(f"Migration ID: {mid}\n")
    return msg


def main(redis_url: str, smtp_port: str, mode: str, marker: str) -> None:
    def build(mid: str, kind: str) -> EmailMessage:
        if mode == "stuck":
            Path(marker).write_text(mid)
            while True:
                time.sleep(1)
        return mail(mid, kind)

    notifier = Notifier(redis.Redis.from_url(redis_url), SmtpSettings(host="127.0.0.1", port=int(smtp_port)), build)
    notifier.loop()


if __name__ == "__main__":
    main(*sys.argv[1:5])
