"""Settings read from the environment: an empty value is the default, not a broken one."""

import os
import subprocess
import sys


def test_an_empty_database_url_means_the_default_sqlite_file(tmp_path):
    env = dict(os.environ, DATABASE_URL="", RUNDBRIEF_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="rundbrief.settings")
    code = "import django; django.setup(); from django.conf import settings; print(settings.DATABASES['default']['NAME'])"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "rundbrief.sqlite3")
