"""Attributes and segments in the HTTP API: define, set, read back, count; scopes; the OpenAPI schema."""

import json

import pytest

from rundbrief.api.actions import issue_api_token
from rundbrief.audience.models import Segment, Subscriber

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(db):
    record, token = issue_api_token("shop", ("read", "write"))
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def reader(db):
    record, token = issue_api_token("report", ("read",))
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def send(client, method, url, body, auth):
    return getattr(client, method)(url, json.dumps(body), content_type="application/json", **auth)


def test_attributes_and_a_segment_round_trip_through_the_api(client, shop, topics):
    ida = Subscriber.objects.create(email="ida@example.org", status="confirmed")
    Subscriber.objects.create(email="jan@example.org", status="confirmed")
    created = send(
        client,
        "post",
        "/api/v1/attributes",
        {"key": "stufe", "label": "Stufe", "type": "choice", "choices": ["gold", "silber"]},
        shop,
    )
    assert created.status_code == 201 and created.json()["choices"] == ["gold", "silber"]
    assert [d["key"] for d in client.get("/api/v1/attributes", **shop).json()] == ["stufe"]

    url = f"/api/v1/subscribers/{ida.public_id}/attributes"
    assert send(client, "put", url, {"attributes": {"stufe": "gold"}}, shop).json() == {"attributes": {"stufe": "gold"}}
    assert client.get(f"/api/v1/subscribers/{ida.public_id}", **shop).json()["attributes"] == {"stufe": "gold"}

    rule = {"field": "attribute", "attribute": "stufe", "operator": "is", "value": "gold"}
    segment = send(client, "post", "/api/v1/segments", {"name": "Gold", "match": "all", "rules": [rule]}, shop)
    assert segment.status_code == 201
    sid = segment.json()["id"]
    assert client.get(f"/api/v1/segments/{sid}", **shop).json()["rules"] == [rule]
    everyone = send(client, "post", "/api/v1/segments", {"name": "Alle"}, shop).json()["id"]
    assert client.get(f"/api/v1/segments/{sid}/count", **shop).json() == {"id": sid, "count": 1}
    assert [s["name"] for s in client.get("/api/v1/segments", **shop).json()] == ["Alle", "Gold"]
    assert client.get(f"/api/v1/segments/{everyone}/count", **shop).json() == {"id": everyone, "count": 2}


@pytest.mark.parametrize(
    ("url", "body", "message"),
    [
        ("/api/v1/attributes", {"key": "Kunde-Nr", "label": "x", "type": "text"}, "key"),
        ("/api/v1/attributes", {"key": "x", "label": "x", "type": "farbe"}, "type"),
        ("SUBSCRIBER", {"attributes": {"fehlt": 1}}, "fehlt: unknown attribute"),
        ("SUBSCRIBER", {"attributes": {"umsatz": "viel"}}, "umsatz: 'viel' is not a number"),
        (
            "/api/v1/segments",
            {"name": "X", "rules": [{"field": "language", "operator": "is", "value": "fr"}]},
            "rule 1:",
        ),
        ("/api/v1/segments", {"name": "X", "match": "some", "rules": []}, "match must be one of"),
    ],
)
def test_bad_definitions_values_and_rules_answer_422_and_change_nothing(client, shop, url, body, message):
    send(client, "post", "/api/v1/attributes", {"key": "umsatz", "label": "Umsatz", "type": "number"}, shop)
    kim = Subscriber.objects.create(email="kim@example.org", status="confirmed")
    method = "post"
    if url == "SUBSCRIBER":
        url, method = f"/api/v1/subscribers/{kim.public_id}/attributes", "put"
    response = send(client, method, url, body, shop)
    assert response.status_code == 422
    assert message in response.json()["detail"]
    kim.refresh_from_db()
    assert kim.attributes is None and not Segment.objects.exists()


def test_reading_needs_read_and_changing_needs_write(client, reader):
    assert client.get("/api/v1/segments", **reader).status_code == 200
    assert client.get("/api/v1/attributes").status_code == 401
    body = {"key": "vip", "label": "VIP", "type": "boolean"}
    assert send(client, "post", "/api/v1/attributes", body, reader).status_code == 403
    assert send(client, "post", "/api/v1/segments", {"name": "Alle"}, reader).status_code == 403


def test_the_openapi_schema_names_the_attribute_and_segment_paths(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    for path in [
        "/api/v1/attributes",
        "/api/v1/subscribers/{public_id}/attributes",
        "/api/v1/segments",
        "/api/v1/segments/{segment_id}",
        "/api/v1/segments/{segment_id}/count",
    ]:
        assert path in paths
    assert "put" in paths["/api/v1/subscribers/{public_id}/attributes"]
