"""The admin's import: upload, a preview of the column mapping and the first rows, then the import."""

import os
import re
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from rundbrief.audience.addresses import subject_hash
from rundbrief.audience.models import ConsentEvent, Subscriber, Suppression

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
URL = "/admin/audience/subscriber/import/"


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def upload(client, name, data=None, **fields):
    content = (FIXTURES / name).read_bytes() if data is None else data
    return client.post(URL, {"file": SimpleUploadedFile(name, content), "format": "rundbrief", **fields})


def hidden_fields(html):
    """The preview's form as the browser would send it back (hidden token, chosen options)."""
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    fields.update(re.findall(r'<input type="text" name="(\w+)" value="([^"]*)"', html))
    fields["format"] = re.search(r'<option value="(\w+)" selected>', html).group(1)
    return fields


def test_the_preview_shows_the_mapping_and_first_rows_and_imports_only_when_confirmed(admin_client, topics):
    page = upload(admin_client, "mailchimp_subscribed.csv", format="mailchimp", consent_basis="")
    html = page.content.decode()
    assert page.status_code == 200, html
    assert "<td>Email Address</td><td><code>email</code></td>" in html
    assert "<td>OPTIN_TIME</td><td><code>consented_at</code></td>" in html
    assert "<td>CONFIRM_IP</td><td><code>confirm_ip</code></td>" in html
    assert '<tr class="not-imported"><td>First Name</td>' in html  # unmapped: shown as not imported
    assert "First Name: Erika" in html  # the row's own values of the columns not imported
    assert "OPTIN_TIME: no consent time" in html  # line 5's outcome, before anything is written
    assert not Subscriber.objects.exists()  # a preview imports nothing

    done = admin_client.post(URL, hidden_fields(html))
    result = done.content.decode()
    assert done.status_code == 200, result
    assert '<td class="confirmed">2</td>' in result and '<td class="rejected">1</td>' in result
    assert Subscriber.objects.filter(status=Subscriber.Status.CONFIRMED).count() == 2
    event = ConsentEvent.objects.get(subject_hash=subject_hash("erika.muster@example.de"))
    assert event.source.startswith("import:mailchimp:mailchimp_subscribed.csv:2 ")  # the uploaded file's name
    assert not any((Path(settings.VAR_DIR) / "imports").iterdir())  # upload and rejects deleted


def test_an_unsubscribed_file_goes_to_the_suppression_list_from_the_admin(admin_client, topics):
    html = upload(admin_client, "mailchimp_unsubscribed.csv", format="mailchimp").content.decode()
    assert "to the suppression list" in html or "Sperrliste" in html
    admin_client.post(URL, hidden_fields(html))
    assert Suppression.objects.filter(address_hash=subject_hash("weg@example.de")).exists()
    assert not Subscriber.objects.exists()


def test_a_file_that_cannot_be_read_is_refused_on_the_form_and_not_kept(admin_client, topics):
    page = upload(admin_client, "rapidmail.csv", format="mailchimp")
    html = page.content.decode()
    assert page.status_code == 200 and "errorlist" in html
    assert "columns found: &#x27;email&#x27;" in html and "semicolon" in html
    assert not any((Path(settings.VAR_DIR) / "imports").iterdir())


def test_a_forged_upload_token_is_refused(admin_client, topics):
    page = admin_client.post(URL, {"upload": "x/../../etc/passwd", "format": "rundbrief"})
    assert page.status_code == 403


def test_only_users_who_may_add_subscribers_can_import(client, django_user_model, topics):
    editor = django_user_model.objects.create_user("redakteurin", password="x", is_staff=True)
    client.force_login(editor)
    assert client.get(URL).status_code == 403


def test_an_upload_waits_for_the_import_at_most_an_hour(admin_client, topics, monkeypatch):
    from rundbrief.audience import import_admin

    html = upload(admin_client, "mailchimp_subscribed.csv", format="mailchimp").content.decode()
    monkeypatch.setattr(import_admin, "MAX_AGE", -1)  # the signed name has expired
    assert admin_client.post(URL, hidden_fields(html)).status_code == 403
    assert not Subscriber.objects.exists()


def test_an_upload_never_imported_is_deleted_with_the_next_upload_after_an_hour(admin_client, topics, var_dir):
    upload(admin_client, "mailchimp_subscribed.csv", format="mailchimp")
    (old,) = (var_dir / "imports").iterdir()
    os.utime(old, (time.time() - 3700, time.time() - 3700))
    upload(admin_client, "mailchimp_cleaned.csv", format="mailchimp")
    (left,) = (var_dir / "imports").iterdir()
    assert left != old and not old.exists()
