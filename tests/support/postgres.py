"""A throw-away PostgreSQL 15 cluster of a test's own (scripts/pg-cluster.sh), which the test may restart."""

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PGBIN = Path(os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin"))
HAVE_POSTGRES = (PGBIN / "pg_ctl").exists()


def _as_owner(args):
    return (["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []) + args


class Cluster:
    def __init__(self, directory: Path, url: str):
        self.dir, self.url = directory, url

    def restart(self):
        """`pg_ctl restart -m fast`: every open connection is cut, the server is back when this returns."""
        port = (self.dir / "port").read_text().strip()
        options = f"-p {port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        subprocess.run(
            _as_owner(
                [
                    str(PGBIN / "pg_ctl"),
                    "-D",
                    str(self.dir / "data"),
                    "-l",
                    str(self.dir / "server.log"),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    options,
                    "restart",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )


@contextlib.contextmanager
def throwaway_cluster():
    directory = Path(tempfile.mkdtemp(prefix="rundbrief-pg-test."))
    directory.chmod(0o755)
    script = str(ROOT / "scripts" / "pg-cluster.sh")
    try:
        url = subprocess.run(
            ["bash", script, "start", str(directory)], check=True, capture_output=True, text=True
        ).stdout.strip()
        port = (directory / "port").read_text().strip()
        subprocess.run(
            [str(PGBIN / "createdb"), "-h", "127.0.0.1", "-p", port, "-U", "rundbrief", "rundbrief"], check=True
        )
        yield Cluster(directory, url)
    finally:
        subprocess.run(["bash", script, "stop", str(directory)], capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)
