"""A Content-Security-Policy on every response: scripts only from this site, no plugins, no framing,
forms only to this site.

Defence in depth against stored XSS (an editor's field rendered into every page, such as a link in the
site profile): even if markup slipped through, an injected `<script>` or `onclick=` would not run.
Templates therefore carry no inline script and no inline event handler (tests/test_csp.py checks
them all). Styles may be inline: the newsletter's HTML is styled inline for mail programs and is
shown on the web version and in the admin's preview. Images may come from any https address (a
newsletter's pictures) and from this site.
"""

POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: https:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", POLICY)
        return response
