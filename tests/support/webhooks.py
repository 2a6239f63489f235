"""A webhook receiver for the tests: a real HTTP server on 127.0.0.1 in a thread, recording every request."""

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook


@dataclass
class Received:
    headers: dict
    body: str
    status: int  # what the receiver answered

    def verified(self, secret):
        """The payload, after standardwebhooks checked the signature (raises if it does not match)."""
        return Webhook(secret).verify(self.body, self.headers)


class Receiver:
    """Answers each POST with the next status of `answers` (then `default`); `redirect_to` makes a 3xx
    carry a Location header."""

    def __init__(self, answers=(), default=200, redirect_to=""):
        self.answers, self.default, self.redirect_to = list(answers), default, redirect_to
        self.requests: list[Received] = []
        self._lock = threading.Lock()

    def __enter__(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode("utf-8")
                with receiver._lock:
                    status = receiver.answers.pop(0) if receiver.answers else receiver.default
                    receiver.requests.append(Received({k.lower(): v for k, v in self.headers.items()}, body, status))
                self.send_response(status)
                if 300 <= status < 400 and receiver.redirect_to:
                    self.send_header("Location", receiver.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/rundbrief"

    def delivered(self, secret):
        """The verified payloads of the requests answered with 2xx, in order."""
        return [r.verified(secret) for r in self.requests if 200 <= r.status < 300]
