"""HTML → readable plain text for the text/plain part of an HTML-bodied newsletter.

Only for HTML we sanitised ourselves (nh3 output), so a forgiving stdlib parser
is enough: block elements become paragraphs, links keep their target in
brackets, list items get a dash. RFC 2046 §5.1.4: both alternatives carry the
same content, so a reader whose client shows only text misses nothing.
"""

import re
from html.parser import HTMLParser

BLOCK_TAGS = {
    "p",
    "div",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "tr",
    "blockquote",
    "pre",
    "ul",
    "ol",
    "hr",
    "center",
    "section",
    "article",
    "header",
    "footer",
}
SKIP_CONTENT_TAGS = {"style", "script", "head", "title"}


class _TextCollector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []
        self.links = []  # the open <a> elements' targets, innermost last
        self.skipping = 0
        self.in_pre = 0

    def handle_starttag(self, tag, attrs):
        if tag in SKIP_CONTENT_TAGS:
            self.skipping += 1
        elif tag in BLOCK_TAGS:
            self.parts.append("\n\n")
            if tag == "hr":
                self.parts.append("----\n\n")
            if tag == "pre":
                self.in_pre += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in {"td", "th"}:
            self.parts.append(" ")
        elif tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.parts)))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(f"[{alt}]")

    def handle_endtag(self, tag):
        if tag in SKIP_CONTENT_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in BLOCK_TAGS:
            self.parts.append("\n\n")
            if tag == "pre":
                self.in_pre = max(0, self.in_pre - 1)
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            label = "".join(self.parts[start:]).strip()
            # A bare link whose text is its address needs no repetition.
            if href and not href.startswith("#") and href != label and href != f"mailto:{label}":
                self.parts.append(f" ({href})")

    def handle_data(self, data):
        if self.skipping:
            return
        self.parts.append(data if self.in_pre else re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    text = "".join(collector.parts)
    lines = [line.strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
