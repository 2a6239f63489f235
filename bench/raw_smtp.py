"""The ceiling for Python: N identical pre-built messages over C persistent smtplib connections.

    python bench/raw_smtp.py --messages 20000 --smtp 127.0.0.1:2525 --connections 4
prints `raw_smtp: messages=N connections=C seconds=S msgs_per_s=X`.
Slow would mean: below the delivery engine's own rate — the sink or the machine is the limit.
"""

import argparse
import resource
import smtplib
import sys
import threading
import time
from email.message import EmailMessage
from email.policy import SMTP

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
from bench._common import SmtpSink  # noqa: E402


def message_bytes(size=15_000):
    msg = EmailMessage()
    msg["From"] = "newsletter@musterhaus.example"
    msg["To"] = "leser@example.org"
    msg["Subject"] = "Marktbericht"
    msg.set_content("Gold steigt.\n" * (size // 26))
    msg.add_alternative("<p>Gold steigt.</p>\n" * (size // 38), subtype="html")
    return msg.as_bytes(policy=SMTP)  # CRLF line ends, as the delivery engine sends them


def run(host, port, messages, connections, pipelining=False):
    data = message_bytes()
    per = [messages // connections + (1 if i < messages % connections else 0) for i in range(connections)]

    stuffed_data = data + b".\r\n"  # ends in CRLF and has no line starting with a dot

    def send(count):
        with smtplib.SMTP(host, port, local_hostname="bench.localhost") as smtp:
            for i in range(count):
                if not pipelining:
                    smtp.sendmail("bounces@musterhaus.example", [f"leser{i}@example.org"], data)
                    continue
                # The same two round trips as the delivery engine (RFC 2920), nothing else.
                smtp.send(f"MAIL FROM:<bounces@musterhaus.example>\r\nRCPT TO:<leser{i}@example.org>\r\nDATA\r\n")
                replies = [smtp.getreply()[0] for _ in range(3)]
                assert replies == [250, 250, 354], replies
                smtp.send(stuffed_data)
                assert smtp.getreply()[0] == 250

    threads = [threading.Thread(target=send, args=(n,)) for n in per]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--smtp", default="", help="HOST:PORT; default: start smtp-sink on a free port")
    parser.add_argument(
        "--pipelining",
        action="store_true",
        help="MAIL, RCPT and DATA in one write, as the delivery engine does (RFC 2920)",
    )
    args = parser.parse_args()
    if args.smtp:
        host, port = args.smtp.rsplit(":", 1)
        seconds = run(host, int(port), args.messages, args.connections, args.pipelining)
    else:
        with SmtpSink() as sink:
            seconds = run("127.0.0.1", sink.port, args.messages, args.connections, args.pipelining)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_ms = 1000 * (usage.ru_utime + usage.ru_stime) / args.messages
    print(
        f"raw_smtp: messages={args.messages} connections={args.connections} pipelining={int(args.pipelining)} "
        f"seconds={seconds:.2f} msgs_per_s={args.messages / seconds:.0f} cpu_ms_per_msg={cpu_ms:.3f}"
    )


if __name__ == "__main__":
    main()
