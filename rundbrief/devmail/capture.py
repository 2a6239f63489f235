"""An SMTP server (aiosmtpd) that stores every message it receives as an .eml file.

It stands in for a real MTA in the embedded set-up, so that everything the
product mails — double-opt-in requests, newsletters — travels over real SMTP
and can be read at /dev/outbox/. It never relays anything anywhere.
"""

import os
import time
import uuid
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path

from aiosmtpd.controller import Controller

MAX_MESSAGE_BYTES = 25 * 1024 * 1024


class CaptureHandler:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.eml"
        header = "".join(f"X-Devmail-Rcpt: {rcpt}\r\n" for rcpt in envelope.rcpt_tos)
        header += f"X-Devmail-From: {envelope.mail_from}\r\n"
        data = header.encode() + envelope.original_content
        tmp = self.directory / (name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.directory / name)  # readers never see half a file
        return "250 Message captured"


def start_capture(host: str, port: int, directory: Path) -> Controller:
    controller = Controller(
        CaptureHandler(directory), hostname=host, port=port, data_size_limit=MAX_MESSAGE_BYTES, ready_timeout=10
    )
    controller.start()
    return controller


def list_messages(directory: Path, limit: int = 200):
    """Newest first: (id, headers) for each captured message."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    names = sorted((p.name for p in directory.glob("*.eml")), reverse=True)[:limit]
    parser = BytesHeaderParser(policy=default_policy)
    result = []
    for name in names:
        with open(directory / name, "rb") as fh:
            result.append((name.removesuffix(".eml"), parser.parse(fh)))
    return result
