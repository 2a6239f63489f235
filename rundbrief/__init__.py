"""Rundbrief: a self-hosted news-and-newsletter server."""

__version__ = "0.1.0"
