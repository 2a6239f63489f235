from django.apps import AppConfig


class DbConfig(AppConfig):
    """The one model below every app: the rate-window table (models.py, windows.py).

    Labelled `rundbrief_db`, not `db`: the label names the table, and `db` would read as Django's own.
    The package also holds the SQLite backend (`rundbrief.db.sqlite3`, named in DATABASES); the
    backend imports nothing of the app, so either loads without the other.
    """

    name = "rundbrief.db"
    label = "rundbrief_db"
    verbose_name = "database support"
