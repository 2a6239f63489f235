"""`rundbrief digest create|list|pause|resume|delete`: the id on stdout, one line on stderr and exit 1
for bad input, nothing created then."""

import datetime as dt
import io
import json
import subprocess
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from rundbrief.campaigns.models import Digest
from tests.support.workers import RUNDBRIEF, database_url

BERLIN = ZoneInfo("Europe/Berlin")


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("digest", *args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "schedule, rule, weekday, day, at",
    [
        (["--daily", "06:30"], "daily", None, None, dt.time(6, 30)),
        (["--weekly", "Mon", "07:00"], "weekly", 0, None, dt.time(7, 0)),
        (["--weekly", "freitag", "17:45"], "weekly", 4, None, dt.time(17, 45)),
        (["--monthly", "1", "09:00"], "monthly", None, 1, dt.time(9, 0)),
    ],
)
def test_create_prints_only_the_new_id(topics, schedule, rule, weekday, day, at):
    code, out, err = run(
        "create", "--topics", "finanznachrichten,sonderangebote", "--subject", "Marktbericht KW {week}", *schedule
    )
    assert code == 0 and err == ""
    digest = Digest.objects.get()
    assert out == f"{digest.pk}\n"
    assert (digest.rule, digest.weekday, digest.day_of_month, digest.local_time) == (rule, weekday, day, at)
    assert digest.active and digest.next_due_at > timezone.now()
    assert timezone.localtime(digest.next_due_at).time() == at
    assert {t.slug for t in digest.topics.all()} == {"finanznachrichten", "sonderangebote"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args, message",
    [
        (["--topics", "gibtsnicht", "--daily", "07:00"], "unknown topic: gibtsnicht"),
        (["--topics", "finanznachrichten", "--daily", "25:00"], "time '25:00' does not exist"),
        (["--topics", "finanznachrichten", "--weekly", "someday", "07:00"], "day 'someday' is not a weekday"),
        (["--topics", "finanznachrichten", "--monthly", "31", "07:00"], "must be 1 to 28"),
        (
            ["--topics", "finanznachrichten", "--daily", "07:00", "--weekly", "mon", "07:00"],
            "give exactly one of --daily HH:MM, --weekly DAY HH:MM, --monthly N HH:MM, not --daily and --weekly",
        ),
        (["--topics", "finanznachrichten"], "give exactly one of"),
    ],
)
def test_bad_input_is_one_line_on_stderr_exit_1_and_creates_nothing(topics, args, message):
    code, out, err = run("create", "--subject", "Marktbericht", *args)
    assert code == 1 and out == ""
    assert message in err and "\n" not in err.strip()
    assert not Digest.objects.exists()


@pytest.mark.django_db
def test_an_unknown_placeholder_in_the_subject_is_refused(topics):
    code, _out, err = run("create", "--topics", "finanznachrichten", "--subject", "KW {kw}", "--daily", "07:00")
    assert code == 1 and "unknown placeholder {kw}" in err
    assert not Digest.objects.exists()


@pytest.mark.django_db
def test_list_pause_resume_delete(topics):
    _code, out, _err = run(
        "create", "--topics", "finanznachrichten", "--subject", "Wochenblick", "--weekly", "sun", "18:00"
    )
    pk = out.strip()
    _code, out, _err = run("list")
    assert f"{pk}  active  weekly sunday 18:00" in out and "Wochenblick" in out

    assert run("pause", pk)[1] == f"digest {pk} paused\n"
    [row] = json.loads(run("list", "--json")[1])
    assert row["id"] == int(pk) and row["active"] is False and row["schedule"] == "weekly sunday 18:00"
    assert row["topics"] == ["finanznachrichten"] and row["subject"] == "Wochenblick" and row["issues"] == 0
    assert dt.datetime.fromisoformat(row["next_due_at"]).astimezone(BERLIN).strftime("%a %H:%M") == "Sun 18:00"

    code, out, _err = run("resume", pk)
    assert code == 0 and out.startswith(f"digest {pk} active, next issue ")
    assert Digest.objects.get().active

    assert run("delete", pk)[:2] == (0, f"digest {pk} deleted\n")
    assert not Digest.objects.exists()
    assert run("pause", pk)[0::2] == (1, f"no digest with id {pk}")


@pytest.mark.django_db(transaction=True)
def test_the_real_command_line_prints_one_line_and_exits_1(topics, settings):
    """Not through call_command: the console script, as an operator types it."""
    env = {"DATABASE_URL": database_url(), "SECRET_KEY": settings.SECRET_KEY, "PATH": "/usr/bin:/bin"}
    env["RUNDBRIEF_VAR_DIR"] = str(settings.VAR_DIR)
    args = ["digest", "create", "--topics", "finanznachrichten", "--subject", "S", "--daily", "7:00", "--monthly"]
    result = subprocess.run([*RUNDBRIEF, *args, "3", "07:00"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "CommandError: give exactly one of --daily HH:MM, --weekly DAY HH:MM, --monthly N HH:MM, not --daily and --monthly"
    ]
