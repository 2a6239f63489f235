"""The docs keep up with the code: every setting and every command of ours is documented."""

import re
from pathlib import Path

from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
ENV_READ = re.compile(
    r"""env_(?:str|bool|int|float|list|choice)\(\s*["']([A-Z0-9_]+)["']|environ(?:\.get)?\(\s*["']([A-Z0-9_]+)["']"""
)


def settings_read_in_code():
    names = set()
    for path in (ROOT / "rundbrief").rglob("*.py"):
        for match in ENV_READ.finditer(path.read_text()):
            names.add(match.group(1) or match.group(2))
    names.discard("DJANGO_SETTINGS_MODULE")
    return names


def test_every_environment_variable_read_is_in_docs_settings():
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", (ROOT / "docs/settings.md").read_text(), re.M))
    missing = settings_read_in_code() - documented
    assert not missing, f"undocumented in docs/settings.md: {sorted(missing)}"
    assert {"DATABASE_URL", "SMTP_URL", "SITE_URL"} <= documented


def test_readme_configuration_table_names_the_main_variables():
    readme = (ROOT / "README.md").read_text()
    for name in [
        "DATABASE_URL",
        "SECRET_KEY",
        "RUNDBRIEF_DEBUG",
        "ALLOWED_HOSTS",
        "SMTP_URL",
        "SITE_URL",
        "TIME_ZONE",
        "LANGUAGE_CODE",
    ]:
        assert f"`{name}`" in readme, name
    assert "make run" in readme and "make test" in readme and "docs/architecture.md" in readme


def test_every_rundbrief_command_has_a_section_in_docs_cli():
    cli = (ROOT / "docs/cli.md").read_text()
    ours = [name for name, app in get_commands().items() if app.startswith("rundbrief.")]
    assert ours
    missing = [name for name in ours if f"## `rundbrief {name}" not in cli]
    assert not missing, f"undocumented in docs/cli.md: {missing}"
