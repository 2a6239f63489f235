"""Settings read from the environment: an empty value is the default, not a broken one."""

import os
import subprocess
import sys

import pytest


def test_an_empty_database_url_means_the_default_sqlite_file(tmp_path):
    env = dict(
        os.environ, DATABASE_URL="", RUNDBRIEF_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="rundbrief.settings"
    )
    code = (
        "import django; django.setup(); from django.conf import settings; print(settings.DATABASES['default']['NAME'])"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "rundbrief.sqlite3")


def rundbrief(tmp_path, *args, **env):
    environment = dict(os.environ, RUNDBRIEF_VAR_DIR=str(tmp_path), **env)
    environment.pop("DJANGO_SETTINGS_MODULE", None)  # the console script sets its own
    return subprocess.run(
        [sys.executable, "-m", "rundbrief", *args], env=environment, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "name, value, says",
    [
        ("DATABASE_URL", "mysqlx://shop:geheim@db/shop", "unknown scheme 'mysqlx'"),
        ("DATABASE_URL", "postgres://shop:geheim@db:port/shop", "expected sqlite:///PATH or postgres://"),
        ("SMTP_URL", "smtp+ssl://shop:geheim@mail.example:465", "scheme must be smtp, smtp+starttls or smtps"),
        ("DELIVERY_SMTP_URLS", "smtp://shop:geheim@relay.example:25?per_second=nan", "must be 0 (no limit)"),
        ("RUNDBRIEF_SIGNUP_PROCESSING", "cron", "expected one of web, worker"),
        ("DELIVERY_CONCURRENCY", "viele", "expected a whole number"),
    ],
)
def test_a_setting_that_cannot_be_understood_stops_every_command_with_one_line_and_no_password(
    tmp_path, name, value, says
):
    result = rundbrief(tmp_path, "check", **{name: value})
    assert result.returncode == 2
    assert result.stderr.startswith(f"rundbrief: configuration error: {name}=") and says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "geheim" not in result.stderr  # an error message ends up in terminals, logs and tickets


def test_move_database_names_a_bad_or_unreachable_target_in_one_line_without_the_password(tmp_path):
    # Port 9 (discard) on loopback: nothing listens there in a test run.
    for target, says in [
        ("mysqlx://shop:geheim@db/shop", "unknown scheme 'mysqlx'"),
        ("postgres://shop:geheim@127.0.0.1:9/shop", "cannot connect to postgres://shop:***@127.0.0.1:9/shop"),
    ]:
        result = rundbrief(tmp_path, "move-database", "--to", target)
        assert result.returncode == 1 and says in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and "geheim" not in result.stderr
