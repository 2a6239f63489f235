"""Bounces, complaints and inbound mail (issue 5): docs/bounces.md."""
