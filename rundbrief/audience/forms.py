from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from rundbrief.audience.addresses import normalise_fast
from rundbrief.audience.models import ConsentText
from rundbrief.newsroom.models import Topic

HONEYPOT_FIELD = "website"


class SignupForm(forms.Form):
    """The newsletter box: the address only, the consent text version shown, a honeypot, optional topics."""

    # Longer than 254 on purpose: the address check gives the clear message, not a generic one.
    email = forms.CharField(label=_("E-mail address"), max_length=1000, strip=False)
    consent_text = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**31 - 1)
    topics = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple, choices=())
    page = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)
    # Hidden from people by CSS and aria-hidden; bots fill every field.
    website = forms.CharField(required=False, max_length=200, label=_("Leave this field empty"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["topics"].choices = [(t.slug, t.localised.name) for t in Topic.objects.all()]
        # NUL is a control character like CR and LF: normalise_address gives the one clear message.
        self.fields["email"].validators = []

    def clean_email(self):
        return normalise_fast(self.cleaned_data["email"])

    def clean_consent_text(self):
        text = ConsentText.objects.filter(pk=self.cleaned_data["consent_text"]).first()
        if text is None:
            raise ValidationError(_("The consent text you saw is unknown; please reload the page."))
        return text

    def clean_page(self):
        page = self.cleaned_data["page"]
        # Where the box stood, as proof of the form's location; a path on this site only.
        if not page.startswith("/") or page.startswith("//") or any(ord(ch) < 33 for ch in page):
            return ""
        return page.split("?")[0]

    @property
    def is_bot(self):
        return bool(self.data.get(HONEYPOT_FIELD))


class PreferencesForm(forms.Form):
    """The topics a reader keeps; none at all means unsubscribing, which the view first asks her to confirm."""

    topics = forms.MultipleChoiceField(
        label=_("Topics"), required=False, widget=forms.CheckboxSelectMultiple, choices=()
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["topics"].choices = [(t.slug, t.localised.name) for t in Topic.objects.all()]


class ResubscribeForm(forms.Form):
    """A withdrawn reader's fresh sign-up from the preference centre: her address is known, so only
    the topics and the consent text shown beside the button travel (the proof names that text)."""

    topics = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple, choices=())
    consent_text = SignupForm.base_fields["consent_text"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["topics"].choices = [(t.slug, t.localised.name) for t in Topic.objects.all()]

    clean_consent_text = SignupForm.clean_consent_text
