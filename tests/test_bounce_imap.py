"""`rundbrief bounces fetch` against a small IMAP server: bounces recorded once, messages flagged or moved."""

import asyncio
import io
import re
import threading

import pytest
from django.core.management import call_command

from rundbrief.audience.queries import is_suppressed
from rundbrief.bounces.models import BounceEvent
from tests.support.bounces import dsn, mark_sent
from tests.support.campaigns import make_audience, scheduled_campaign
from tests.support.ports import free_port

pytestmark = pytest.mark.django_db

AUTO_REPLY = b"From: a@example.org\r\nSubject: Out of Office: Marktbericht\r\nX-Autoreply: yes\r\n\r\nAway.\r\n"
GARBAGE = bytes(range(256)) * 4


class TinyImapServer:
    """Just enough IMAP4rev1 (RFC 3501) for imaplib: LOGIN, SELECT, UID SEARCH/FETCH/STORE/COPY, EXPUNGE."""

    def __init__(self, messages):
        self.folders = {
            "INBOX": [{"uid": i + 1, "raw": raw, "flags": set()} for i, raw in enumerate(messages)],
            "Processed": [],
        }
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self):
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self.session, "127.0.0.1", self.port), self.loop
        )
        self.thread.start()
        self.server = self.server.result(5)
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def unseen(self):
        return [m for m in self.folders["INBOX"] if "\\Seen" not in m["flags"]]

    async def session(self, reader, writer):
        writer.write(b"* OK tiny IMAP ready\r\n")
        selected = None
        while line := await reader.readline():
            tag, _, rest = line.decode().rstrip("\r\n").partition(" ")
            command, _, args = rest.partition(" ")
            command = command.upper()
            if command == "UID":
                command, _, args = args.partition(" ")
                command = "UID " + command.upper()
            out = []
            if command == "CAPABILITY":
                out.append(b"* CAPABILITY IMAP4rev1")
            elif command == "LOGIN" and [a.strip('"') for a in args.split()] != ["bounces", "geheim"]:
                writer.write(f"{tag} NO wrong password\r\n".encode())
                continue
            elif command == "SELECT":
                selected = self.folders[args.strip('"')]
                out.append(f"* {len(selected)} EXISTS".encode())
            elif command == "UID SEARCH":
                uids = [str(m["uid"]) for m in selected if "\\Seen" not in m["flags"]]
                out.append(("* SEARCH " + " ".join(uids)).strip().encode())
            elif command == "UID FETCH":
                message = self._find(selected, args)
                out.append(
                    f"* {message['uid']} FETCH (UID {message['uid']} BODY[] {{{len(message['raw'])}}}".encode()
                    + b"\r\n"
                    + message["raw"]
                    + b")"
                )
            elif command == "UID STORE":
                message = self._find(selected, args)
                message["flags"].update(re.findall(r"\\\w+", args))
            elif command == "UID COPY":
                message = self._find(selected, args)
                self.folders[args.split(" ", 1)[1].strip('"')].append(dict(message, flags=set()))
            elif command == "EXPUNGE":
                selected[:] = [m for m in selected if "\\Deleted" not in m["flags"]]
            elif command == "LOGOUT":
                out.append(b"* BYE")
            for item in out:
                writer.write(item + b"\r\n")
            writer.write(f"{tag} OK {command} completed\r\n".encode())
            await writer.drain()
            if command == "LOGOUT":
                break
        writer.close()

    @staticmethod
    def _find(selected, args):
        uid = int(args.split(" ", 1)[0])
        return next(m for m in selected if m["uid"] == uid)


@pytest.fixture
def bounce(finance):
    make_audience(finance, 1)
    delivery = mark_sent(scheduled_campaign([finance]))[0]
    return delivery, dsn(delivery)


def fetch(port, *extra):
    out = io.StringIO()
    call_command("bounces", "fetch", "--imap", f"imap://bounces:geheim@127.0.0.1:{port}/INBOX", *extra, stdout=out)
    return out.getvalue().strip()


def test_fetch_records_bounces_once_and_flags_every_processed_message_seen(bounce):
    delivery, raw = bounce
    with TinyImapServer([raw, AUTO_REPLY, GARBAGE]) as server:
        assert fetch(server.port) == "bounces: fetched=3 recorded=1 failed=0"
        assert server.unseen() == []
        assert fetch(server.port) == "bounces: fetched=0 recorded=0 failed=0"
    event = BounceEvent.objects.get()
    assert (event.source, event.delivery_id, event.outcome) == ("imap", delivery.pk, "suppressed")
    assert is_suppressed(delivery.subscriber.email)


def test_fetch_with_move_to_moves_processed_messages_out_of_the_inbox(bounce):
    _, raw = bounce
    with TinyImapServer([raw, AUTO_REPLY]) as server:
        assert fetch(server.port, "--move-to", "Processed") == "bounces: fetched=2 recorded=1 failed=0"
        assert server.folders["INBOX"] == [] and len(server.folders["Processed"]) == 2
    assert BounceEvent.objects.count() == 1
