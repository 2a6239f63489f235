"""The demo's welcome mails (Musterhaus Edelmetalle), German and English, switched on: `load-demo` adds them."""

from rundbrief.campaigns.models import WelcomeMail

DEMO_WELCOME = {
    "de": {
        "subject": "Willkommen beim Newsletter von Musterhaus Edelmetalle",
        "preheader": "Schön, dass Sie dabei sind – das erwartet Sie.",
        "body": (
            "## Herzlich willkommen!\n\n"
            "Vielen Dank, dass Sie unseren Newsletter bestätigt haben. Ab jetzt erhalten Sie zu den "
            "gewählten Themen unsere Marktberichte, Neuheiten und Angebote rund um Gold und Silber.\n\n"
            "- **Finanznachrichten:** Edelmetallpreise, Zinsen und Märkte, eingeordnet von unserer Redaktion.\n"
            "- **Produktneuheiten:** neue Münzen, Barren und Editionen.\n"
            "- **Sonderangebote:** zeitlich begrenzte Aktionen.\n\n"
            "Die aktuellen Beiträge finden Sie jederzeit auf [unserer Website](/). "
            "Fragen beantwortet Ihnen unsere kostenlose Beratung unter 0800 123 45 67.\n\n"
            "Ihr Team von Musterhaus Edelmetalle"
        ),
    },
    "en": {
        "subject": "Welcome to the Musterhaus Edelmetalle newsletter",
        "preheader": "Good to have you with us – here is what to expect.",
        "body": (
            "## Welcome!\n\n"
            "Thank you for confirming your subscription. From now on you will receive our market reports, "
            "new products and offers on gold and silver for the topics you chose.\n\n"
            "- **Financial news:** precious metal prices, interest rates and markets, explained by our editors.\n"
            "- **New products:** new coins, bars and editions.\n"
            "- **Special offers:** promotions for a limited time.\n\n"
            "The latest articles are always on [our website](/). "
            "Our free advice line, 0800 123 45 67, answers your questions.\n\n"
            "The Musterhaus Edelmetalle team"
        ),
    },
}


def load_demo_welcome() -> str:
    """Create the demo's welcome texts where a language has none; an editor's text is left alone."""
    added = [
        language
        for language, fields in DEMO_WELCOME.items()
        if WelcomeMail.objects.get_or_create(language=language, defaults={**fields, "enabled": True})[1]
    ]
    return f"welcome mails added: {', '.join(added)}" if added else ""
