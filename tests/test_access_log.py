"""The production web server's access log keeps no mailed token: gunicorn started with the unit file's
own arguments, real requests, the log file read back (docs/operations.md; ops/accesslog.py)."""

import os
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy/systemd/rundbrief-web.service"
TOKEN = "eyJpIjoiMWM0M2NkNmQzYmIxN2I4NmQzZjU2NmY2OTFjODkwOWMifQ:1xZic5:-jaXywUVfhhHlPggI2wm8ZYsnUfxAMda6ruvQli7wus"


def unit_arguments():
    """gunicorn's arguments from the unit's ExecStart, as systemd joins its continued lines."""
    text = UNIT.read_text().replace("\\\n", " ")
    command = re.search(r"^ExecStart=(.*)$", text, re.M).group(1)
    return shlex.split(command)[1:]


def test_the_units_access_log_redacts_tokens_in_paths_and_referers(tmp_path):
    port = free_port()
    log = tmp_path / "access.log"
    args = unit_arguments()
    assert "--access-logfile" in args and "rundbrief.ops.accesslog.RedactingLogger" in args
    args[args.index("--bind") + 1] = f"127.0.0.1:{port}"
    args[args.index("--workers") + 1] = "1"
    args[args.index("--access-logfile") + 1] = str(log)
    env = dict(os.environ, RUNDBRIEF_VAR_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "error.log").open("w"),  # not a pipe: a full pipe would block gunicorn
    )
    try:
        deadline = time.monotonic() + 30
        paths = [f"/u/{TOKEN}", f"/en/p/{TOKEN.replace(':', '%3A')}/", f"/newsletter/bestaetigen/{TOKEN}/"]
        for path in paths:
            while True:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}{path}", headers={"Referer": f"https://news.example/p/{TOKEN}/"}
                )
                try:
                    urllib.request.urlopen(request, timeout=5).close()
                    break
                except urllib.error.HTTPError:
                    break  # any answer is logged; the page itself does not matter here
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
        time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(10)
    lines = log.read_text()
    assert lines.count("\n") >= 3, lines
    assert "[redacted]" in lines
    for part in TOKEN.split(":"):
        assert part not in lines, lines  # no piece of the token: not in the path, not in the Referer
