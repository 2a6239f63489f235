"""gunicorn's access log without the mailed tokens: `--logger-class rundbrief.ops.accesslog.RedactingLogger`.

A confirmation, unsubscribe, preference or export link carries a signed token that acts for its
subscriber: whoever reads it in a log can confirm, withdraw or fetch her data. The product's own
log lines are scrubbed (ops/logs.py); this logger gives gunicorn's access log the same treatment —
the request line, path, query, Referer (the confirmation page's address travels on as the Referer
of the next request) and every header and environ atom — so the production set-up
(deploy/systemd/rundbrief-web.service) keeps the promise too (GDPR Art. 32).
"""

from urllib.parse import unquote

from gunicorn.glogging import Logger

from rundbrief.ops.logs import scrub


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        # Percent-decoded first: "%3A" in place of the token's ":" must not hide a signature.
        return {key: scrub(unquote(value)) if isinstance(value, str) else value for key, value in atoms.items()}
