"""What `rundbrief move-database` copies, and how it checks the copy (row counts per model)."""

from django.apps import apps

# Rebuilt by `migrate` on the target, or worthless to move (sessions). The rate windows
# (rundbrief_db.RateWindow) are copied: the current hour's sending budget then holds across the move.
EXCLUDE = ["contenttypes", "auth.permission", "sessions"]
MUST_BE_EMPTY = ["audience.ConsentEvent", "audience.Subscriber", "newsroom.Article", "campaigns.Campaign"]


def counts(alias):
    excluded = {e.lower() for e in EXCLUDE}
    result = {}
    for model in apps.get_models():
        label = model._meta.label_lower
        if label in excluded or model._meta.app_label in excluded or model._meta.proxy or not model._meta.managed:
            continue
        result[label] = model._base_manager.using(alias).count()
    return result
