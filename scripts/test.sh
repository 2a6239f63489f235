#!/usr/bin/env bash
# Runs the whole suite twice: on SQLite, then on a throw-away PostgreSQL cluster.
#   scripts/test.sh            both
#   scripts/test.sh postgres   only PostgreSQL
# Extra arguments after `--` go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
shift || true
[ "${1:-}" = "--" ] && shift
status=0

# Style and layering first: seconds, and a failure names the file and line (docs/architecture.md).
echo "== ruff (lint, format) =="
.venv/bin/ruff check --quiet . || status=1
.venv/bin/ruff format --check --quiet . || status=1

if [ "$which" = all ] || [ "$which" = sqlite ]; then
    echo "== test suite on SQLite =="
    env -u DATABASE_URL .venv/bin/pytest "$@" || status=1
fi

if [ "$which" = all ] || [ "$which" = postgres ]; then
    echo "== test suite on PostgreSQL 15 =="
    dir=$(mktemp -d /tmp/rundbrief-pg.XXXXXX)
    chmod 755 "$dir"
    trap 'bash scripts/pg-cluster.sh stop "$dir"; rm -rf "$dir"' EXIT
    url=$(bash scripts/pg-cluster.sh start "$dir")
    DATABASE_URL=$url .venv/bin/pytest "$@" || status=1
fi
exit $status
