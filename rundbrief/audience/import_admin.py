"""The admin's subscriber import: upload a file, see the column mapping and its first rows, then import.

The same importer as `rundbrief import-subscribers` (importer.import_files), with the same formats and
options. The upload is kept, owner-only, under VAR_DIR/imports/ between the preview and the import,
named by a random token that the preview signs; it and its rejects file are deleted once the import ran,
and an upload never imported is deleted with the next upload after an hour.
Only users who may add subscribers see it (docs/integrations.md, "In the admin").
"""

import csv
import os
import secrets
import shutil
import time
from pathlib import Path

from django import forms
from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils.text import get_valid_filename
from django.utils.translation import gettext_lazy as _

from rundbrief.audience import importer
from rundbrief.audience.csvsniff import encoding_name
from rundbrief.audience.import_formats import FORMATS
from rundbrief.audience.models import Suppression
from rundbrief.newsroom.models import Topic

SALT = "rundbrief.audience.import-upload"
MAX_AGE = 3600  # seconds between the preview and the import
SHOWN_REJECTS = 20
DELIMITERS = {",": _("comma"), ";": _("semicolon"), "\t": _("tab")}


class ImportOptionsForm(forms.Form):
    format = forms.ChoiceField(
        label=_("Exported by"), choices=[(f.name, f.label) for f in FORMATS.values()], initial="rundbrief"
    )
    topics = forms.ModelMultipleChoiceField(
        Topic.objects.all(),
        label=_("Topics"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("For rows that name no topics; none chosen: every topic."),
    )
    consent_basis = forms.CharField(
        label=_("Consent basis"),
        max_length=importer.CONSENT_BASIS_MAX,
        required=False,
        help_text=_(
            "Where consent was obtained, for rows without a consent time (else they are rejected). "
            "Recorded in each such row's ledger entry."
        ),
    )
    send_confirmation = forms.BooleanField(
        label=_("Mail the double-opt-in request to rows without a confirmation time"), required=False
    )

    def options(self):
        data = self.cleaned_data
        return {
            "format_name": data["format"],
            "topics": [topic.slug for topic in data["topics"]],
            "consent_basis": data["consent_basis"],
        }


class UploadForm(ImportOptionsForm):
    file = forms.FileField(label=_("CSV file"))

    field_order = ["file", "format", "topics", "consent_basis", "send_confirmation"]


class RunForm(ImportOptionsForm):
    upload = forms.CharField(widget=forms.HiddenInput)


def upload_dir():
    return Path(settings.VAR_DIR) / "imports"


def _store(uploaded) -> str:
    """Save the upload owner-only under a random folder, keeping its name for the ledger's source."""
    _forget_old_uploads()
    token = secrets.token_hex(16)
    folder = upload_dir() / token
    folder.mkdir(parents=True, mode=0o700)
    name = get_valid_filename(Path(uploaded.name).name)[:80] or "upload.csv"
    fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with open(fd, "wb") as fh:
        for chunk in uploaded.chunks():
            fh.write(chunk)
    return signing.dumps(f"{token}/{name}", salt=SALT)


def _forget_old_uploads():
    """Uploads previewed but never imported hold addresses: gone once their signed name has expired."""
    if not upload_dir().is_dir():
        return
    too_old = time.time() - MAX_AGE
    for folder in upload_dir().iterdir():
        if folder.is_dir() and not folder.is_symlink() and folder.stat().st_mtime < too_old:
            shutil.rmtree(folder, ignore_errors=True)


def _stored(signed) -> Path:
    """The stored upload a signed name points at; PermissionDenied if forged, expired or gone."""
    try:
        token, name = signing.loads(signed, salt=SALT, max_age=MAX_AGE).split("/", 1)
    except (signing.BadSignature, ValueError):
        raise PermissionDenied from None
    path = upload_dir() / token / name
    if not path.is_file():
        raise PermissionDenied
    return path


def import_view(model_admin, request):
    """GET: the upload form. POST with a file: the preview. POST from the preview: the import."""
    if not request.user.has_perm("audience.add_subscriber"):
        raise PermissionDenied
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Import subscribers"),
        "opts": model_admin.model._meta,
    }
    if request.method == "POST" and "upload" in request.POST:
        return _run(request, context)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        signed = _store(form.cleaned_data["file"])
        path = _stored(signed)
        try:
            shown = importer.preview(path, **form.options())
        except importer.ImportFileError as exc:
            shutil.rmtree(path.parent, ignore_errors=True)  # nothing of a refused file is kept
            form.add_error("file", str(exc).replace(str(path), path.name))
        else:
            run_form = RunForm(initial={**form.cleaned_data, "upload": signed})
            rows = [(row, outcome_label(row)) for row in shown.rows]
            return render(
                request,
                "admin/audience/import_preview.html",
                {
                    **context,
                    "preview": shown,
                    "rows": rows,
                    "file_name": path.name,
                    "encoding": encoding_name(shown.sniffed.encoding),
                    "delimiter": DELIMITERS[shown.sniffed.delimiter],
                    "form": run_form,
                },
            )
    return render(request, "admin/audience/import.html", {**context, "form": form})


def outcome_label(row):
    if row.outcome == "rejected":
        return _("rejected: %(reason)s") % {"reason": row.reason}
    if row.outcome.startswith("suppressed:"):
        reason = Suppression.Reason(row.outcome.partition(":")[2]).label
        return _("to the suppression list (%(reason)s)") % {"reason": reason}
    return {"confirmed": _("confirmed subscriber"), "pending": _("pending subscriber")}[row.outcome]


def _run(request, context):
    form = RunForm(request.POST)
    if not form.is_valid():
        raise PermissionDenied  # the preview's own hidden fields: only a forged form gets here
    path = _stored(form.cleaned_data["upload"])
    try:
        (summary,) = importer.import_files(
            [path], send_confirmation=form.cleaned_data["send_confirmation"], **form.options()
        )
        rejects = _first_rejects(summary.rejects_path)
    except importer.ImportFileError as exc:
        summary, rejects = None, [("", str(exc).replace(str(path), path.name))]
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
    return render(
        request,
        "admin/audience/import_done.html",
        {**context, "summary": summary, "rejects": rejects, "file_name": path.name},
    )


def _first_rejects(path):
    """(line, reason) of the first rejected rows: the reasons only, the rows themselves stay out of the page."""
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        return [(row[0], row[1]) for row, _n in zip(reader, range(SHOWN_REJECTS), strict=False)]
