"""Playwright driving Debian's chromium (Playwright cannot download its own browser here)."""

import contextlib
import os
from pathlib import Path

from django.conf import settings
from django.db import connections

AXE = Path(__file__).resolve().parents[1] / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.1 A and AA rules only: axe's "best-practice" rules are advice, not the AA contrast/label/heading basics.
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
CHROMIUM = os.environ.get("RUNDBRIEF_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # The machine has no network beyond package registries: keep chromium from trying.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def chromium_page():
    """A fresh Playwright and chromium for one test (about 2 s to start on this machine).

    Not shared across the session: while sync_playwright() is open its event loop counts as
    running in the main thread, so every later test's ORM call would trip Django's async guard
    (SynchronousOnlyOperation) unless DJANGO_ALLOW_ASYNC_UNSAFE were set for the whole suite.
    With two browser tests in two modules, the launch saved is not worth losing that guard."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(
                locale="de-DE", timezone_id="Europe/Berlin", viewport={"width": 1280, "height": 900}
            )
            yield page
        finally:
            # Inside sync_playwright() the ORM runs in a context of its own (Django keeps connections
            # per context, asgiref.local): the test's queries in this block open a connection that the
            # test teardown does not see, and PostgreSQL refuses to drop a database still in use.
            # Playwright's event loop runs here, so Django's async guard must be told this is fine.
            with _async_unsafe_allowed():
                connections.close_all()
            browser.close()


@contextlib.contextmanager
def _async_unsafe_allowed():
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield
    finally:
        if before is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


def screenshot_path(name):
    folder = Path(settings.VAR_DIR) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.png"


def serious_violations(page):
    # Evaluated through the browser's debugging protocol: the site's Content-Security-Policy allows no
    # script tag that is not its own, and must not be loosened for a test.
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
