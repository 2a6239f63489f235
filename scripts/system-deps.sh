#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, only when missing.
# chromium: the Playwright browser tests (Playwright cannot download a browser here).
# postgresql: the server binaries for the throw-away test cluster.
# npm (with nodejs): installs the pinned axe-core the browser tests inject (tests/axe/package.json).
# libsisimai-perl: the reference bounce classifier, a test oracle only (tests/test_bounce_corpus_real.py).
#   scripts/system-deps.sh bench   also postfix (its smtp-sink, used by bench/) and wrk (bench/signup.py).
#   Postfix is installed with "No configuration", so no mail server is started by the install.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql)
command -v npm >/dev/null || need+=(npm)
[ -f /usr/share/perl5/Sisimai.pm ] || need+=(libsisimai-perl)
if [ "${1:-}" = bench ]; then
    [ -x /usr/sbin/smtp-sink ] || need+=(postfix)
    command -v wrk >/dev/null || need+=(wrk)
fi
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${need[*]} — install them with: sudo apt-get install ${need[*]}" >&2
    exit 1
fi
echo "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
