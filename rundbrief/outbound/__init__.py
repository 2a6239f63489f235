"""A message leaves: transport configuration, the SMTP client, the message builder, DKIM and VERP.

Below every app (docs/architecture.md): it imports none of them. Callers pass in
what only they know — the site's name, the links, the signing keys.
"""
