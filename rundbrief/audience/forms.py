from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from rundbrief.audience import proofofwork
from rundbrief.audience.addresses import normalise_fast
from rundbrief.audience.models import ConsentText
from rundbrief.newsroom.models import Topic

HONEYPOT_FIELD = "website"
# What the reader is told when the proof-of-work does not hold (audience/proofofwork.py's reasons).
PROOF_OF_WORK_ERRORS = {
    "missing": _(
        "Your browser did not send the automatic check against bots. Please allow JavaScript for this page "
        "and submit the form again."
    ),
    "invalid": _("The automatic check against bots did not succeed. Please submit the form again."),
    "expired": _("The automatic check against bots has expired. Please submit the form again."),
    "used": _("The automatic check against bots was already used. Please submit the form again."),
}


class SignupForm(forms.Form):
    """The newsletter box: the address only, the consent text version shown, a honeypot, optional topics."""

    # Longer than 254 on purpose: the address check gives the clear message, not a generic one.
    email = forms.CharField(label=_("E-mail address"), max_length=1000, strip=False)
    consent_text = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**31 - 1)
    topics = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple, choices=())
    page = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)
    # Hidden from people by CSS and aria-hidden; bots fill every field.
    website = forms.CharField(required=False, max_length=200, label=_("Leave this field empty"))
    # The solved proof-of-work challenge, filled in by the browser (RUNDBRIEF_SIGNUP_PROOF_OF_WORK).
    altcha = forms.CharField(required=False, widget=forms.HiddenInput)

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

    def clean_altcha(self):
        """The solution to spend when the sign-up is written (views.signup), or None when the check is off."""
        if not settings.RUNDBRIEF_SIGNUP_PROOF_OF_WORK:
            return None
        try:
            return proofofwork.check(self.cleaned_data["altcha"])
        except proofofwork.Refused as refused:
            raise ValidationError(PROOF_OF_WORK_ERRORS[refused.reason], code=refused.reason) from None

    def spend_proof_of_work(self):
        """Spend the solution inside the sign-up's transaction; False, with the error on the form, if it
        was used before (a replayed solution signs nobody up)."""
        solution = self.cleaned_data.get("altcha")
        if solution is None:
            return True
        try:
            proofofwork.spend(solution)
        except proofofwork.Refused as refused:
            self.add_error("altcha", ValidationError(PROOF_OF_WORK_ERRORS[refused.reason], code=refused.reason))
            return False
        return True

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
