"""An SMTP sink that records who got what: one line per accepted message, for bench/soak.py.

    .venv/bin/python bench/soak_sink.py --port 2525 --log sink.log

Each accepted message appends `RCPT MESSAGE-ID MAIL_TIME END_TIME` (epoch seconds) to the log;
MAIL_TIME is when the MAIL command arrived, the moment the client began the SMTP transaction, which
the soak's consent invariant is measured against. A message counts as delivered only once its
final "." has arrived, as for a real server: a client killed during DATA leaves no line.

Postfix's smtp-sink is faster but cannot log recipients and Message-IDs without dumping every
whole message (-D: 15 GB for a million 15 KB messages). This one is asyncio over the standard
library; it offers PIPELINING (RFC 2920) as a real server does, so the engine sends as it would
in production. Whether it keeps up is measured (docs/benchmarks.md, "Soak"): raw_smtp.py
--pipelining against it must stay well above the soak's sending rate, or the sink is the bottleneck.
"""

import argparse
import asyncio
import re
import signal
import time

MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)
END_OF_DATA = b"\r\n.\r\n"  # RFC 5321 §4.1.1.4: the data ends with a line holding only "."


class Recorder:
    """The log file, written in blocks: a line per message would cost a system call each."""

    def __init__(self, path):
        self.file = open(path, "a", buffering=1 << 16)  # noqa: SIM115 — open for the sink's lifetime
        self.count = 0

    def write(self, rcpts, message_id, mail_time, end_time):
        for rcpt in rcpts:
            self.file.write(f"{rcpt} {message_id} {mail_time:.3f} {end_time:.3f}\n")
        self.count += 1

    def flush(self):
        self.file.flush()

    def close(self):
        self.file.close()


def _address(argument):
    """The address of `MAIL FROM:<a>` / `RCPT TO:<a> PARAMS`, without brackets."""
    value = argument.split(b":", 1)[1].strip()
    if value.startswith(b"<"):
        value = value[1 : value.find(b">")]
    else:
        value = value.split()[0] if value else b""
    return value.decode("utf-8", "replace")


async def session(reader, writer, recorder):
    writer.write(b"220 soak-sink ESMTP\r\n")
    rcpts, mail_time = [], None
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                writer.write(
                    b"250-soak-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 52428800\r\n"
                )
            elif verb == b"MAIL":
                rcpts, mail_time = [], time.time()
                writer.write(b"250 2.1.0 ok\r\n")
            elif verb == b"RCPT":
                rcpts.append(_address(line))
                writer.write(b"250 2.1.5 ok\r\n")
            elif verb == b"DATA":
                if not rcpts:
                    writer.write(b"503 5.5.1 no recipients\r\n")
                    continue
                writer.write(b"354 go ahead\r\n")
                body = await reader.readuntil(END_OF_DATA)
                found = MESSAGE_ID.search(body, 0, body.find(b"\r\n\r\n") + 2)
                message_id = found.group(1).decode("ascii", "replace") if found else "-"
                recorder.write(rcpts, message_id, mail_time, time.time())
                rcpts = []
                writer.write(b"250 2.0.0 queued\r\n")
            elif verb == b"RSET":
                rcpts = []
                writer.write(b"250 2.0.0 ok\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 2.0.0 bye\r\n")
                await writer.drain()
                return
            else:  # NOOP and anything else: harmless
                writer.write(b"250 2.0.0 ok\r\n")
            await writer.drain()  # returns at once unless the client stopped reading
    except (asyncio.IncompleteReadError, ConnectionError):
        return  # the client died mid-transaction (a killed worker): nothing was delivered
    finally:
        writer.close()


async def serve(port, log_path, ready_path):
    recorder = Recorder(log_path)
    server = await asyncio.start_server(
        lambda r, w: session(r, w, recorder), "127.0.0.1", port, limit=64 << 20, backlog=1000
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if ready_path:
        with open(ready_path, "w") as ready:
            ready.write(str(server.sockets[0].getsockname()[1]))
    while not stop.is_set():  # the log reaches the disk at least every 0.5 s, for the sampler
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except TimeoutError:
            pass
        recorder.flush()
    server.close()
    recorder.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: a free port, written to --ready")
    parser.add_argument("--log", required=True, help="the recipients' log, appended to")
    parser.add_argument("--ready", default="", help="a file to write the port to once listening")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.log, args.ready))


if __name__ == "__main__":
    main()
