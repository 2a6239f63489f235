"""Markdown becomes safe HTML: no script, no event handlers, no javascript: URLs ever reach a page."""

from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rundbrief.newsroom.markdown import render_markdown

BAD_TAGS = {"script", "iframe", "style", "svg", "object", "embed", "form", "meta", "link", "base"}
BAD_SCHEMES = ("javascript:", "vbscript:", "data:")


class _Audit(HTMLParser):
    """Collects what a browser would treat as active content."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems = []

    def handle_starttag(self, tag, attrs):
        if tag in BAD_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.problems.append(f"{tag}[{name}]")
            # The browser strips whitespace and control characters before reading the scheme.
            cleaned = "".join(ch for ch in (value or "") if ch > " ").lower()
            if name in {"href", "src", "action", "formaction"} and cleaned.startswith(BAD_SCHEMES):
                self.problems.append(f"{tag}[{name}={value}]")


def active_content(html):
    audit = _Audit()
    audit.feed(html)
    audit.close()
    return audit.problems


def test_subheadings_become_h2_and_h3():
    html = render_markdown("## Markt\n\n### Detail\n\nText")
    assert "<h2>Markt</h2>" in html and "<h3>Detail</h3>" in html


def test_top_level_heading_in_body_is_demoted_below_the_page_title():
    assert render_markdown("# Titel") == "<h2>Titel</h2>\n"


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        '<img src="x" onerror="alert(1)">',
        "[klick](javascript:alert(1))",
        "[klick](JaVaScRiPt:alert(1))",
        '<a href="javascript&#58;alert(1)">x</a>',
        "<iframe src=//evil.example></iframe>",
        '<svg onload="alert(1)">',
        "<style>body{display:none}</style>",
        '<p style="background:url(javascript:alert(1))">x</p>',
        "![x](data:text/html;base64,PHNjcmlwdD4=)",
    ],
)
def test_hostile_html_in_markdown_is_removed(source):
    assert active_content(render_markdown(source)) == []


def test_harmless_formatting_survives():
    html = render_markdown("**fett** und [Link](https://example.org)\n\n- eins\n- zwei")
    assert "<strong>fett</strong>" in html
    assert '<a href="https://example.org" rel="noopener noreferrer">Link</a>' in html
    assert "<li>eins</li>" in html


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "<script>",
                "</script>",
                "<img src=x onerror=",
                "javascript:",
                "[a](",
                ")",
                '<a href="',
                '"',
                ">",
                "#",
                "##",
                "\n",
                "`",
                "<",
                "&#",
                "x",
                " ",
                "on",
                "load=",
                "<svg ",
                "*",
            ]
        ),
        max_size=40,
    ).map("".join)
)
def test_no_combination_of_fragments_produces_script(source):
    assert active_content(render_markdown(source)) == []
