"""The admin's schedule confirmation form: now, or a time in the site's time zone.

A time typed into the form has no offset; it is read in TIME_ZONE (Europe/Berlin by default). A
wall-clock time that does not exist there (the hour skipped when daylight saving starts) or exists
twice (the hour repeated when it ends) is refused by Django's DateTimeField rather than guessed.
"""

import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rundbrief.campaigns.actions import schedule_campaign

PAST_TOLERANCE = dt.timedelta(minutes=1)


class ScheduleForm(forms.Form):
    when = forms.ChoiceField(
        label=_("When"),
        choices=[("now", _("Send now")), ("later", _("At a later time"))],
        widget=forms.RadioSelect,
    )
    at = forms.DateTimeField(
        label=_("Send at"),
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("when") != "later":
            cleaned["at"] = None
            return cleaned
        at = cleaned.get("at")
        if at is None:
            if "at" not in self.errors:
                self.add_error("at", _("Choose the date and time to send at."))
            return cleaned
        if at < timezone.now() - PAST_TOLERANCE:
            self.add_error("at", _("This time is in the past."))
        return cleaned


def schedule_from_form(campaign, form, actor):
    return schedule_campaign(campaign, at=form.cleaned_data["at"], actor=actor)
