"""The first German and English consent declarations, written for Rundbrief.

UWG §7(2) Nr. 2 and GDPR Art. 7: what will be sent, for which purpose, that
consent can be withdrawn at any time without reasons with effect for the
future (Art. 7(3)), and that processing until then stays lawful.
"""

import hashlib

from django.db import migrations

TEXTS = {
    "de": (
        "Mit der Eingabe meiner E-Mail-Adresse und dem Klick auf „Abschicken“ willige ich ein, dass mir "
        "Musterhaus Edelmetalle per E-Mail Produktneuheiten, Finanznachrichten und Sonderangebote schickt "
        "und meine E-Mail-Adresse zu diesem Zweck verarbeitet. Die Einwilligung kann ich jederzeit ohne "
        "Angabe von Gründen mit Wirkung für die Zukunft widerrufen, etwa über den Abmeldelink in jeder "
        "E-Mail. Die Rechtmäßigkeit der bis zum Widerruf erfolgten Verarbeitung bleibt davon unberührt. "
        "Einzelheiten stehen in den Datenschutzhinweisen."
    ),
    "en": (
        "By entering my e-mail address and clicking “Submit” I agree that Musterhaus Edelmetalle may send "
        "me product news, financial news and special offers by e-mail and may process my e-mail address "
        "for that purpose. I can withdraw this consent at any time, without giving reasons, with effect "
        "for the future, for example through the unsubscribe link in every e-mail. Processing carried out "
        "before the withdrawal remains lawful. Details are given in the privacy notice."
    ),
}


def add_texts(apps, schema_editor):
    ConsentText = apps.get_model("audience", "ConsentText")
    for language, text in TEXTS.items():
        if not ConsentText.objects.filter(language=language).exists():
            sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
            ConsentText.objects.create(language=language, version=1, text=text, sha256=sha)


class Migration(migrations.Migration):
    dependencies = [("audience", "0002_consent_ledger_triggers")]
    operations = [migrations.RunPython(add_texts, migrations.RunPython.noop)]
