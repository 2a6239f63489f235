"""Logging for every app: `get_logger(__name__)` (structlog, through the standard library's handlers).

Infrastructure, below every app: the apps log through this module, and `rundbrief.ops.logs`
(the formatter named in settings.LOGGING) decides how a line looks and scrubs addresses and
tokens from it (docs/operations.md, "Logs").
"""

import structlog

get_logger = structlog.get_logger
