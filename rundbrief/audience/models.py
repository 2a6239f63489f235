"""Subscribers, their topics, the consent texts they saw, the consent ledger and the suppression list.

The ledger (ConsentEvent) is append-only; personal evidence (IP, user agent)
lives beside it in ConsentEvidence so erasure can remove it while the chain
still verifies — docs/decisions.md, "Consent ledger and erasure".
"""

import hashlib
import secrets

from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rundbrief.newsroom.languages import TranslatedFields
from rundbrief.newsroom.models import Topic

# An attribute key is used in a JSON path ('$.key', attributes->>'key'): nothing but these characters.
KEY_VALIDATOR = RegexValidator(
    r"^[a-z][a-z0-9_]{0,39}$", _("Use lower-case letters, digits and underscores, starting with a letter.")
)
EMAIL_MAX_LENGTH = 254  # RFC 5321 §4.5.3.1.3: a path is at most 256 octets including "<" and ">"


def new_public_id():
    # 128 bits: the opaque id that signed links carry instead of the address.
    return secrets.token_hex(16)


def new_nonce():
    return secrets.token_urlsafe(16)


class Subscriber(models.Model):
    """One address. Erasure deletes the row; the ledger keeps only the keyed hash."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending confirmation")
        CONFIRMED = "confirmed", _("confirmed")
        WITHDRAWN = "withdrawn", _("withdrawn")

    email = models.CharField(_("e-mail address"), max_length=EMAIL_MAX_LENGTH, unique=True)
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    language = models.CharField(_("language"), max_length=10, default="de")
    # Set when a confirmation mail goes out, cleared when it is used: confirm links work once.
    confirm_nonce = models.CharField(max_length=32, blank=True, editable=False)
    last_confirmation_mail_at = models.DateTimeField(null=True, blank=True, editable=False)
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    topics = models.ManyToManyField(Topic, through="Subscription", related_name="subscribers", blank=True)
    # Custom fields as one JSON object, {key: value} checked against AttributeDefinition by
    # audience/attributes.py: set_attributes. NULL (no attributes) so plain-SQL INSERTs need not name it.
    attributes = models.JSONField(_("attributes"), null=True, blank=True, default=None, editable=False)

    class Meta:
        ordering = ["-requested_at", "-pk"]
        verbose_name = _("subscriber")
        verbose_name_plural = _("subscribers")
        indexes = [models.Index(fields=["status", "requested_at"])]

    def __str__(self):
        return self.email

    @property
    def may_be_mailed(self):
        return self.status == self.Status.CONFIRMED


class Subscription(models.Model):
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="subscriptions")
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="subscriptions")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subscriber", "topic"], name="audience_subscription_unique")]
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")


class ConsentText(models.Model):
    """The declaration shown beside the button. Immutable: a change is a new version."""

    language = models.CharField(_("language"), max_length=10, default="de")
    version = models.PositiveIntegerField(_("version"), editable=False)
    text = models.TextField(_("text"))
    sha256 = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["language", "-version"]
        constraints = [models.UniqueConstraint(fields=["language", "version"], name="audience_consenttext_version")]
        verbose_name = _("consent text")
        verbose_name_plural = _("consent texts")

    def __str__(self):
        return f"{self.language} v{self.version} ({self.sha256[:12]})"

    @staticmethod
    def digest(text):
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("A consent text is immutable; save a new version instead.")
        if self.version is None:
            latest = ConsentText.objects.filter(language=self.language).aggregate(v=models.Max("version"))["v"]
            self.version = (latest or 0) + 1
        self.sha256 = self.digest(self.text)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("A consent text is kept as proof of what readers agreed to.")

    @classmethod
    def current(cls, language):
        return cls.objects.filter(language=language).order_by("-version").first()


class AppendOnlyError(Exception):
    """The consent ledger refuses to change or lose an event (GDPR Art. 7(1): proof)."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("consent events cannot be updated")

    def delete(self):
        raise AppendOnlyError("consent events cannot be deleted")


class ConsentEvent(models.Model):
    """One link of the hash chain. Only rundbrief.audience.ledger.append_event writes these."""

    class Kind(models.TextChoices):
        REQUESTED = "requested", _("requested")
        CONFIRMATION_SENT = "confirmation_sent", _("confirmation mail sent")
        CONFIRMED = "confirmed", _("confirmed")
        TOPICS_CHANGED = "topics_changed", _("topics changed")
        WITHDRAWN = "withdrawn", _("withdrawn")
        SUPPRESSED = "suppressed", _("suppressed")
        UNSUPPRESSED = "unsuppressed", _("suppression lifted")
        IMPORTED = "imported", _("imported")
        ERASED = "erased", _("erased")
        EXPIRED = "expired", _("expired")

    # Not part of the chain: set to NULL on erasure (the trigger allows exactly that).
    subscriber = models.ForeignKey(
        Subscriber, null=True, blank=True, on_delete=models.SET_NULL, related_name="consent_events"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    subject_hash = models.CharField(max_length=64, db_index=True)
    consent_text = models.ForeignKey(ConsentText, null=True, blank=True, on_delete=models.PROTECT)
    consent_text_sha256 = models.CharField(max_length=64, blank=True)
    topics = models.JSONField(default=list)
    source = models.CharField(_("source"), max_length=300, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    message_id = models.CharField(max_length=200, blank=True)
    evidence_commitment = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    # Not unique: an index on a random key made every append slower and protected nothing; verify
    # recomputes the chain in id order (migration 0004, docs/decisions.md).
    hash = models.CharField(max_length=64)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]
        verbose_name = _("consent event")
        verbose_name_plural = _("consent events")

    def __str__(self):
        return f"#{self.pk} {self.kind} {self.occurred_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("consent events cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("consent events cannot be deleted")


class ConsentEvidence(models.Model):
    """Personal evidence of one event, committed to by the event's evidence_commitment; erasable."""

    event = models.OneToOneField(ConsentEvent, primary_key=True, on_delete=models.CASCADE, related_name="evidence")
    ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    # A random salt, so a truncated IP cannot be found by trying all 2^24 prefixes against the commitment.
    salt = models.CharField(max_length=32)

    class Meta:
        verbose_name = _("consent evidence")
        verbose_name_plural = _("consent evidence")


class Suppression(models.Model):
    """An address that is not mailed again without a fresh confirmed double opt-in. Keyed hash only."""

    class Reason(models.TextChoices):
        ERASED = "erased", _("erased on request")
        BOUNCED = "bounced", _("hard bounce")
        COMPLAINED = "complained", _("spam complaint")
        MANUAL = "manual", _("added by an administrator")
        # Imported from another newsletter tool's list of unsubscribed members (GDPR Art. 7(3)).
        UNSUBSCRIBED = "unsubscribed", _("unsubscribed in the previous newsletter tool")

    address_hash = models.CharField(max_length=64, unique=True)
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("suppression")
        verbose_name_plural = _("suppressions")

    def __str__(self):
        return f"{self.address_hash[:12]}… ({self.reason})"


class SignupIntake(models.Model):
    """A sign-up between the answer and its double-opt-in mail: the durable queue of the sign-up path.

    A sign-up is answered once this row is committed (the same neutral answer for
    every address: docs/decisions.md, "Sign-up outcomes look alike"); the writes of the sign-up and the mail follow in
    batches (rundbrief/audience/intake.py, docs/decisions.md "Sign-up intake").
    RECEIVED: the request as checked, not yet applied. MAIL: applied, the
    confirmation request still to be sent; `lease_until` keeps a second sender
    away while one is at it and hands the row on if that one dies.
    """

    class Stage(models.TextChoices):
        RECEIVED = "received", _("received")
        MAIL = "mail", _("confirmation mail to send")

    stage = models.CharField(max_length=10, choices=Stage.choices, default=Stage.RECEIVED)
    received_at = models.DateTimeField(default=timezone.now)
    email = models.CharField(max_length=EMAIL_MAX_LENGTH)
    language = models.CharField(max_length=10, default="de")
    consent_text = models.ForeignKey(ConsentText, null=True, on_delete=models.PROTECT, related_name="+")
    topics = models.JSONField(default=list, blank=True)  # slugs; empty: every topic
    source = models.CharField(max_length=300, blank=True)
    ip = models.CharField(max_length=45, blank=True)  # already truncated (GDPR Art. 5(1)(c))
    user_agent = models.CharField(max_length=300, blank=True)
    subscriber = models.ForeignKey(Subscriber, null=True, on_delete=models.CASCADE, related_name="+")
    nonce = models.CharField(max_length=32, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["stage", "id"], name="audience_intake_stage")]
        verbose_name = _("sign-up in progress")
        verbose_name_plural = _("sign-ups in progress")


class AttributeDefinition(TranslatedFields, models.Model):
    """A custom subscriber field (customer number, customer since, …); values live in Subscriber.attributes.

    The key goes into a JSON path of the segment SQL (audience/jsonsql.py), so it is a strict slug,
    and the type never changes once values exist: it is not editable after creation."""

    class Type(models.TextChoices):
        TEXT = "text", _("text")
        NUMBER = "number", _("number")
        DATE = "date", _("date")
        BOOLEAN = "boolean", _("yes/no")
        CHOICE = "choice", _("choice")

    key = models.CharField(
        _("key"),
        max_length=40,
        unique=True,
        validators=[KEY_VALIDATOR],
        help_text=_("Lower-case letters, digits and underscores, starting with a letter, e.g. customer_since."),
    )
    label = models.CharField(_("label"), max_length=100)
    label_en = models.CharField(_("label (English)"), max_length=100, blank=True)
    type = models.CharField(_("type"), max_length=10, choices=Type.choices)
    choices = models.JSONField(
        _("choices"), default=list, blank=True, help_text=_("For the type choice: the allowed values.")
    )

    class Meta:
        ordering = ["key"]
        verbose_name = _("subscriber attribute")
        verbose_name_plural = _("subscriber attributes")

    def __str__(self):
        return self.key


class Segment(models.Model):
    """A named, saved filter over the audience (docs/segments.md); compiled to SQL by audience/segments.py."""

    class Match(models.TextChoices):
        ALL = "all", _("all rules")
        ANY = "any", _("any rule")

    name = models.CharField(_("name"), max_length=200, unique=True)
    match = models.CharField(_("match"), max_length=3, choices=Match.choices, default=Match.ALL)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("segment")
        verbose_name_plural = _("segments")

    def __str__(self):
        return self.name


class SegmentRule(models.Model):
    """One row of a segment: field – operator – value. `attribute` is set when field is "attribute";
    PROTECT: a definition a segment uses cannot be deleted (docs/segments.md)."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="rules")
    field = models.CharField(_("field"), max_length=20)
    attribute = models.ForeignKey(
        AttributeDefinition,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rules",
        verbose_name=_("attribute"),
    )
    operator = models.CharField(_("operator"), max_length=20)
    value = models.CharField(_("value"), max_length=200, blank=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("rule")
        verbose_name_plural = _("rules")

    def __str__(self):
        subject = self.attribute.key if self.attribute_id else self.field
        return f"{subject} {self.operator} {self.value}".strip()
