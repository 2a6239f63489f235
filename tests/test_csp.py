"""The Content-Security-Policy (ops/csp.py): on every response, and every template without the inline
script or event handler it would block."""

import re
from pathlib import Path

import pytest

from rundbrief.ops.csp import POLICY

ROOT = Path(__file__).resolve().parents[1] / "rundbrief"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
JAVASCRIPT_URL = re.compile(r"""(href|src|action)\s*=\s*["']\s*javascript:""", re.I)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/en/", "/newsletter/", "/admin/login/", "/suche/?q=Gold"])
def test_every_page_carries_the_policy(client, path):
    response = client.get(path)
    policy = response["Content-Security-Policy"]
    assert policy == POLICY and "script-src 'self'" in policy and "object-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy and "'unsafe-eval'" not in policy


def test_no_template_has_an_inline_script_an_event_handler_or_a_javascript_url():
    offenders = []
    for template in ROOT.rglob("templates/**/*.html"):
        text = template.read_text(encoding="utf-8")
        for pattern in (INLINE_SCRIPT, EVENT_HANDLER, JAVASCRIPT_URL):
            offenders += [f"{template.relative_to(ROOT)}: {m.group(0)[:60]}" for m in pattern.finditer(text)]
    assert offenders == []
