"""Delivery workers for tests: one in this process (`run_worker`), or `rundbrief deliver` processes."""

import os
import subprocess
import sys
import time
from urllib.parse import quote, urlencode

from django.conf import settings as django_settings
from django.db import connection

from rundbrief.delivery.engine import Options
from rundbrief.ops.worker import build_worker

RUNDBRIEF = [sys.executable, "-m", "rundbrief"]


def run_worker(settings, server, *, transport=None, **overrides):
    """Run one worker in this process until no work is left, sending to `server`; returns its Stats.

    transport: the transport URL's parameters (docs/settings.md, DELIVERY_SMTP_URLS), such as
    {"per_second": 100}; overrides: engine Options, with short waits so tests run fast."""
    url = server.url + (f"?{urlencode(transport)}" if transport else "")
    settings.DELIVERY_SMTP_URLS = [url]
    options = Options(
        until_idle=True,
        retry_base_seconds=0.05,
        recheck_seconds=0.05,
        idle_poll_seconds=0.05,
        concurrency=overrides.pop("concurrency", 2),
        **overrides,
    )
    return build_worker("test-worker", options).run()


def database_url():
    """The test database as a DATABASE_URL, for processes started by the test."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"]) + (":" + quote(db["PASSWORD"]) if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def worker_env(server, **extra):
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(),
        SECRET_KEY=django_settings.SECRET_KEY,
        RUNDBRIEF_VAR_DIR=str(django_settings.VAR_DIR),
        DELIVERY_SMTP_URLS=server.url,
        DELIVERY_LEASE_SECONDS="4",
        DELIVERY_RETRY_BASE_SECONDS="0.1",
        DELIVERY_CONSENT_RECHECK_SECONDS="0.1",
        RUNDBRIEF_LOG_LEVEL="WARNING",
        **{k: str(v) for k, v in extra.items()},
    )
    return env


def start_worker(env, *args):
    return subprocess.Popen(
        [*RUNDBRIEF, "deliver", "--until-idle", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def wait_all(processes, timeout=240):
    deadline = time.monotonic() + timeout
    for process in processes:
        _out, err = process.communicate(timeout=max(1, deadline - time.monotonic()))
        assert process.returncode == 0, err.decode()[-3000:]
