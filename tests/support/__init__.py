"""Helpers the tests share, one module per role; test modules import from here, never from each other.

- ports.py     a free TCP port on 127.0.0.1 (also used by bench/, hence standard library only)
- smtp.py      the one test SMTP server (aiosmtpd): records mail, injects faults, reads links
- workers.py   delivery workers: in this process (run_worker) or as `rundbrief deliver` processes
- campaigns.py a confirmed audience and a scheduled campaign, built in bulk
- readers.py   a reader's consent history through the consent actions
- bounces.py   DSNs and ARF reports about real deliveries
- webhooks.py  a webhook receiver: an HTTP server on 127.0.0.1 recording each request
- postgres.py  a throw-away PostgreSQL cluster a test may restart
- browser.py   Playwright driving Debian's chromium
- fixtures.py  the fixtures several test files use, registered once by tests/conftest.py

This file imports nothing, so that bench/ can import ports.py without pytest or Django.
"""
