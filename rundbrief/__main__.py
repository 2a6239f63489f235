"""The `rundbrief` console script: Django's manage.py with the settings preset."""

import os
import sys

from rundbrief.config import ConfigError


def main(argv=None):
    args = argv if argv is not None else sys.argv
    if args[1:3] == ["bounces", "classify"]:
        # Files in, JSON out: no database, no apps — do not pay for Django's start-up (docs/bounces.md).
        from rundbrief.bounces import classify_files  # lazy: only this command needs the classifier

        code = classify_files.main(args[3:])
        if code >= 0:
            sys.exit(code)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rundbrief.settings")
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(argv if argv is not None else sys.argv)
    except ConfigError as exc:
        # A setting from the environment that cannot be understood: one line naming it (passwords
        # redacted), not a traceback through the settings module (docs/settings.md).
        print(f"rundbrief: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
