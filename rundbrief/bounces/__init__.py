"""Bounces, complaints and inbound mail : docs/bounces.md."""
