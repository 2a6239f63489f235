"""Subscriber attributes: typed values checked against their definitions, in the export, in the admin."""

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import ValidationError
from django.db.models import ProtectedError
from django.utils import translation

from rundbrief.audience import queries
from rundbrief.audience.attributes import define_attribute, delete_attribute, set_attributes
from rundbrief.audience.models import AttributeDefinition, Segment, Subscriber
from rundbrief.audience.segments import save_segment

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    """Messages are compared in English; the admin pages answer in their own (German) language."""
    with translation.override("en"):
        yield


@pytest.fixture
def definitions(db):
    define_attribute(key="kundennr", label="Kundennummer", label_en="Customer number", type="text")
    define_attribute(key="umsatz", label="Umsatz", type="number")
    define_attribute(key="kunde_seit", label="Kunde seit", type="date")
    define_attribute(key="vip", label="VIP", type="boolean")
    define_attribute(key="stufe", label="Stufe", type="choice", choices=["gold", "silber"])


@pytest.fixture
def greta(definitions):
    return Subscriber.objects.create(email="greta@example.org", status="confirmed")


def test_values_are_stored_in_their_type_and_an_empty_value_removes_one(greta):
    stored = set_attributes(
        greta,
        {
            "kundennr": "K-7",
            "umsatz": "1.500,5".replace(".", ""),
            "kunde_seit": "01.02.2019",
            "vip": "ja",
            "stufe": "gold",
        },
        source="test",
    )
    assert stored == {"kundennr": "K-7", "umsatz": 1500.5, "kunde_seit": "2019-02-01", "vip": True, "stufe": "gold"}
    assert set_attributes(greta, {"kundennr": "", "vip": False, "umsatz": 3}) == {
        "umsatz": 3,
        "kunde_seit": "2019-02-01",
        "vip": False,
        "stufe": "gold",
    }
    greta.refresh_from_db()
    assert greta.attributes["umsatz"] == 3


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"farbe": "rot"}, "farbe: unknown attribute"),
        ({"umsatz": "viel"}, "umsatz: 'viel' is not a number"),
        ({"umsatz": True}, "umsatz: True is not a number"),
        ({"kunde_seit": "2019-13-01"}, "kunde_seit: '2019-13-01' is not a date (YYYY-MM-DD)"),
        ({"vip": "vielleicht"}, "vip: 'vielleicht' is not yes or no"),
        ({"stufe": "platin"}, "stufe: 'platin' is not one of gold, silber"),
        ({"kundennr": 17}, "kundennr: 17 is not text"),
        ({"kundennr": "x" * 501}, "is not text of at most 500 characters"),
    ],
)
def test_a_bad_value_is_refused_with_its_key_and_nothing_changes(greta, values, message):
    set_attributes(greta, {"stufe": "silber"})
    with pytest.raises(ValidationError) as caught:
        set_attributes(greta, {"kundennr": "K-8", **values})
    assert any(message in m for m in caught.value.messages), caught.value.messages
    greta.refresh_from_db()
    assert greta.attributes == {"stufe": "silber"}


def test_a_key_must_be_a_strict_slug_because_it_goes_into_the_json_path(db):
    for key in ["Kunde", "kunde-seit", "a'b", "1a", "x" * 41]:
        with pytest.raises(ValidationError):
            define_attribute(key=key, label="x", type="text")
    with pytest.raises(ValidationError):
        define_attribute(key="stufe", label="Stufe", type="choice", choices=[])


def test_the_export_contains_her_attributes(greta):
    set_attributes(greta, {"kundennr": "K-7", "vip": True})
    assert queries.export_subscriber(greta)["profile"]["attributes"] == {"kundennr": "K-7", "vip": True}


def test_deleting_a_definition_strips_its_values_but_not_while_a_segment_uses_it(greta):
    set_attributes(greta, {"kundennr": "K-7", "stufe": "gold"})
    segment = save_segment(
        name="Gold",
        match="all",
        rules=[{"field": "attribute", "attribute": "stufe", "operator": "is", "value": "gold"}],
    )
    with pytest.raises(ProtectedError):
        delete_attribute(AttributeDefinition.objects.get(key="stufe"))
    segment.delete()
    delete_attribute(AttributeDefinition.objects.get(key="stufe"))
    greta.refresh_from_db()
    assert greta.attributes == {"kundennr": "K-7"}


def test_the_subscriber_admin_page_edits_attributes_through_the_checks(greta, admin_client):
    url = f"/admin/audience/subscriber/{greta.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert 'name="attr__umsatz"' in page and "Kundennummer" in page
    base = {"attr__kundennr": "K-9", "attr__kunde_seit": "", "attr__vip": "true", "attr__stufe": "silber"}
    refused = admin_client.post(url, {**base, "attr__umsatz": "zwölf"})
    assert (
        refused.status_code == 200
        and "umsatz: &#x27;zwölf&#x27; passt nicht (erwartet: eine Zahl)" in refused.content.decode()
    )
    greta.refresh_from_db()
    assert greta.attributes is None
    assert admin_client.post(url, {**base, "attr__umsatz": "12,5"}).status_code == 302
    greta.refresh_from_db()
    assert greta.attributes == {"kundennr": "K-9", "umsatz": 12.5, "vip": True, "stufe": "silber"}


def rules_post(rules, **fields):
    data = {
        "rules-TOTAL_FORMS": str(len(rules)),
        "rules-INITIAL_FORMS": "0",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for n, rule in enumerate(rules):
        data.update({f"rules-{n}-{k}": v for k, v in rule.items()})
    return data


def test_the_segment_builder_saves_rows_checks_them_and_shows_the_live_count(greta, admin_client):
    set_attributes(greta, {"stufe": "gold"})
    Subscriber.objects.create(email="hanna@example.org", status="confirmed", attributes={"stufe": "silber"})
    stufe = AttributeDefinition.objects.get(key="stufe")
    bad = [{"field": "attribute", "attribute": str(stufe.pk), "operator": "is", "value": "platin"}]
    page = admin_client.post("/admin/audience/segment/add/", rules_post(bad, name="Gold", match="all"))
    assert page.status_code == 200 and "ist hier kein gültiger Wert" in page.content.decode()
    assert not Segment.objects.exists()
    good = [
        {"field": "attribute", "attribute": str(stufe.pk), "operator": "is", "value": "gold"},
        {"field": "language", "operator": "is", "value": "de"},
    ]
    assert (
        admin_client.post("/admin/audience/segment/add/", rules_post(good, name="Gold", match="all")).status_code == 302
    )
    segment = Segment.objects.get(name="Gold")
    assert [(r.field, r.operator, r.value) for r in segment.rules.all()] == [
        ("attribute", "is", "gold"),
        ("language", "is", "de"),
    ]
    with __import__("django").utils.translation.override("en"):
        page = admin_client.get(
            f"/admin/audience/segment/{segment.pk}/change/", HTTP_ACCEPT_LANGUAGE="en"
        ).content.decode()
    assert "currently 1 confirmed subscriber" in page or "derzeit 1 bestätigte" in page


def test_a_staff_user_without_the_segment_permission_sees_no_count(greta, client):
    segment = save_segment(name="Alle", match="all", rules=[])
    editor = User.objects.create_user("redaktion", password="pw", is_staff=True)
    editor.user_permissions.add(Permission.objects.get(codename="view_article"))
    client.force_login(editor)
    assert client.get(f"/admin/audience/segment/{segment.pk}/change/").status_code == 403


def test_key_and_type_stay_fixed_and_a_choice_a_rule_uses_cannot_be_removed(greta, admin_client):
    stufe = AttributeDefinition.objects.get(key="stufe")
    save_segment(
        name="Silber",
        match="all",
        rules=[{"field": "attribute", "attribute": "stufe", "operator": "is", "value": "silber"}],
    )
    url = f"/admin/audience/attributedefinition/{stufe.pk}/change/"
    data = {"key": "rang", "type": "text", "label": "Stufe", "label_en": "Tier", "choice_list": "gold"}
    page = admin_client.post(url, data)
    assert page.status_code == 200 and "verwendet einen entfernten Auswahlwert" in page.content.decode()
    assert admin_client.post(url, {**data, "choice_list": "gold, silber, platin"}).status_code == 302
    stufe.refresh_from_db()
    assert (stufe.key, stufe.type, stufe.label_en, stufe.choices) == (
        "stufe",
        "choice",
        "Tier",
        ["gold", "silber", "platin"],
    )
