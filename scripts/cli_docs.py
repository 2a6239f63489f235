"""Regenerate the command reference in docs/cli.md from the commands' own `--help`.

    .venv/bin/python scripts/cli_docs.py           rewrite docs/cli.md
    .venv/bin/python scripts/cli_docs.py --check   exit 1 if docs/cli.md is out of date

docs/cli.md is hand-written prose with one generated block per command, between

    <!-- cli:begin NAME -->
    ...
    <!-- cli:end NAME -->

Only the text between the markers is rewritten. A block holds what `rundbrief NAME --help` prints
(and `rundbrief NAME SUB --help` for each subcommand), without the options every command shares
(`-h/--help` and Django's `--verbosity`, `--settings`, `--pythonpath`, `--traceback`, `--no-color`,
`--force-color`, `--skip-checks`, `--version`), which docs/cli.md names once at the top.

Commands are found by name through Django's get_commands() (every command whose app is a
`rundbrief.` package), not by file path, so moving a command between apps changes nothing here. A
command without a block gets a new section at the end of the file; a block whose command no longer
exists is removed (its prose is left for a person to delete). tests/test_docs.py fails when the
file differs from what this script writes.

The output does not depend on the machine: the help is formatted for 100 columns whatever the
terminal, and tests/test_docs.py checks that no local path ends up in it. argparse's layout changes
between Python versions (3.13 prints an option's metavar once), so the reference is generated, and
checked, with the project's Python, 3.11.
"""

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI_MD = ROOT / "docs" / "cli.md"
COLUMNS = "100"
PYTHON = (3, 11)
REGENERATE = ".venv/bin/python scripts/cli_docs.py"

# Django's options shared by every command (BaseCommand.create_parser), named once in docs/cli.md.
SHARED_OPTIONS = {
    "--version",
    "--verbosity",
    "--settings",
    "--pythonpath",
    "--traceback",
    "--no-color",
    "--force-color",
    "--skip-checks",
}
BLOCK = re.compile(r"<!-- cli:begin (?P<name>[\w-]+) -->\n.*?<!-- cli:end (?P=name) -->\n", re.S)


def setup_django():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rundbrief.settings")
    import django

    django.setup()


def our_commands():
    """{name: app} of every management command defined in a rundbrief package, sorted by name."""
    from django.core.management import get_commands

    return dict(sorted((name, app) for name, app in get_commands().items() if app.startswith("rundbrief.")))


def _hide_shared_options(parser):
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or SHARED_OPTIONS.intersection(action.option_strings):
            action.help = argparse.SUPPRESS


def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices.items())
    return []


def command_help(name, app):
    """What `rundbrief NAME --help` prints, and each subcommand's `--help` after it."""
    from django.core.management import load_command_class

    command = load_command_class(app, name)
    parser = command.create_parser("rundbrief", name)
    parsers = [parser] + [sub for _, sub in _subparsers(parser)]
    texts = []
    # argparse sizes the help to shutil.get_terminal_size(), which reads COLUMNS first.
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = COLUMNS
    try:
        for each in parsers:
            _hide_shared_options(each)
            texts.append(each.format_help().rstrip())
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    return "\n\n".join(texts)


def block(name, app):
    return f"<!-- cli:begin {name} -->\n```\n{command_help(name, app)}\n```\n<!-- cli:end {name} -->\n"


def render(text, commands):
    """docs/cli.md's text with every generated block rewritten; returns (new text, notes)."""
    notes = []
    present = set()

    def replace(match):
        name = match.group("name")
        if name not in commands:
            notes.append(f"removed the block of `{name}`, no longer a command; delete its prose too")
            return ""
        present.add(name)
        return block(name, commands[name])

    text = BLOCK.sub(replace, text)
    for name, app in commands.items():
        if name not in present:
            notes.append(f"added a section for `{name}` at the end; write its prose")
            text = text.rstrip("\n") + f"\n\n## `rundbrief {name}`\n{block(name, app)}"
    return text, notes


def main(argv=None):
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--check", action="store_true", help="exit 1 if docs/cli.md is out of date")
    options = args.parse_args(argv)
    if sys.version_info[:2] != PYTHON:
        sys.exit(f"cli_docs: run with Python {PYTHON[0]}.{PYTHON[1]}: argparse's layout differs between versions")
    setup_django()
    current = CLI_MD.read_text()
    new, notes = render(current, our_commands())
    if options.check:
        if new != current:
            sys.exit(f"docs/cli.md is out of date; run: {REGENERATE}")
        return
    for note in notes:
        print(f"cli_docs: {note}", file=sys.stderr)
    if new != current:
        CLI_MD.write_text(new)
        print("cli_docs: docs/cli.md rewritten", file=sys.stderr)


if __name__ == "__main__":
    main()
