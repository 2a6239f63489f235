"""Segments: every operator picks the same subscribers in the live count, in the audience snapshot
and in a plain-Python reading of the rule, on SQLite and PostgreSQL (docs/segments.md)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from rundbrief.audience.addresses import subject_hash
from rundbrief.audience.attributes import define_attribute
from rundbrief.audience.ledger import append_event
from rundbrief.audience.models import ConsentEvent, Segment, Subscriber, Subscription
from rundbrief.audience.segments import save_segment, segment_count
from rundbrief.bounces.models import BounceEvent
from rundbrief.campaigns.audience import audience_count
from rundbrief.campaigns.models import Campaign
from rundbrief.delivery.models import Delivery
from rundbrief.delivery.snapshot import snapshot_audience

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    """Messages are compared in English; the admin pages answer in their own (German) language."""
    with translation.override("en"):
        yield


DAY = timedelta(days=1)


def define_all():
    define_attribute(key="kundennr", label="Kundennummer", type="text")
    define_attribute(key="umsatz", label="Umsatz", type="number")
    define_attribute(key="kunde_seit", label="Kunde seit", type="date")
    define_attribute(key="vip", label="VIP", type="boolean")
    define_attribute(key="stufe", label="Stufe", type="choice", choices=["gold", "silber", "bronze"])


def person(name, *, language="de", status="confirmed", days=1, attributes=None, topics=(), source=""):
    now = timezone.now()
    subscriber = Subscriber.objects.create(
        email=f"{name}@example.org",
        language=language,
        status=status,
        confirmed_at=now - days * DAY - timedelta(hours=12) if status == "confirmed" else None,
        attributes=attributes,
    )
    Subscription.objects.bulk_create([Subscription(subscriber=subscriber, topic=t) for t in topics])
    if source:
        append_event(
            ConsentEvent.Kind.REQUESTED,
            subject_hash=subject_hash(subscriber.email),
            subscriber=subscriber,
            source=source,
        )
    return subscriber


@pytest.fixture
def audience(topics):
    define_all()
    finance, offers = topics["finanznachrichten"], topics["sonderangebote"]
    today = timezone.localdate()
    person(
        "anna",
        days=400,
        topics=[finance, offers],
        source="https://musterhaus.example/newsletter/",
        attributes={"kundennr": "K-100", "umsatz": 1500, "kunde_seit": "2020-05-01", "vip": True, "stufe": "gold"},
    )
    bernd = person(
        "bernd",
        language="en",
        days=5,
        topics=[finance],
        source="api:shop",
        attributes={"umsatz": 200.0, "kunde_seit": (today - 10 * DAY).isoformat(), "vip": False, "stufe": "silber"},
    )
    person("carla", days=30, topics=[offers], source="import:mailchimp:members.csv")
    person("dora", status="pending", topics=[finance], attributes={"stufe": "gold", "vip": True})
    person("emil", status="withdrawn", topics=[finance], attributes={"stufe": "gold", "vip": True})
    for _ in range(2):
        BounceEvent.objects.create(subscriber=bernd, kind=BounceEvent.Kind.SOFT, source=BounceEvent.Source.API)
    BounceEvent.objects.create(
        subscriber=bernd,
        kind=BounceEvent.Kind.SOFT,
        source=BounceEvent.Source.API,
        received_at=timezone.now() - 60 * DAY,
    )
    return [finance, offers]


def reached(segment, topics):
    """(live count, snapshot rows' addresses, segment-only count) for a campaign to `topics` and `segment`."""
    campaign = Campaign.objects.create(name="Angebot", subject="Silber", segment=segment)
    campaign.topics.set(topics)
    count = audience_count(campaign)
    written = snapshot_audience(campaign)
    names = sorted(
        e.split("@")[0] for e in Delivery.objects.filter(campaign=campaign).values_list("subscriber__email", flat=True)
    )
    assert written == len(names)
    return count, names, segment_count(segment)


def days_ago(n):
    return (timezone.localdate() - n * DAY).isoformat()


OPERATOR_CASES = [
    ({"field": "language", "operator": "is", "value": "de"}, ["anna", "carla"]),
    ({"field": "language", "operator": "is_not", "value": "de"}, ["bernd"]),
    ({"field": "topic", "operator": "is", "value": "sonderangebote"}, ["anna", "carla"]),
    ({"field": "topic", "operator": "is_not", "value": "sonderangebote"}, ["bernd"]),
    ({"field": "confirmed_at", "operator": "within_days", "value": "7"}, ["bernd"]),
    ({"field": "confirmed_at", "operator": "before", "value": days_ago(100)}, ["anna"]),
    ({"field": "confirmed_at", "operator": "after", "value": days_ago(60)}, ["bernd", "carla"]),
    ({"field": "source", "operator": "equals", "value": "api:shop"}, ["bernd"]),
    ({"field": "source", "operator": "starts_with", "value": "import:"}, ["carla"]),
    ({"field": "soft_bounces", "operator": "at_least", "value": "2"}, ["bernd"]),
    ({"field": "soft_bounces", "operator": "at_least", "value": "3"}, []),  # his third is older than the window
    ({"field": "soft_bounces", "operator": "fewer_than", "value": "1"}, ["anna", "carla"]),
    ({"field": "attribute", "attribute": "kundennr", "operator": "equals", "value": "K-100"}, ["anna"]),
    ({"field": "attribute", "attribute": "kundennr", "operator": "contains", "value": "10"}, ["anna"]),
    ({"field": "attribute", "attribute": "kundennr", "operator": "contains", "value": "k-"}, []),
    ({"field": "attribute", "attribute": "kundennr", "operator": "empty", "value": ""}, ["bernd", "carla"]),
    ({"field": "attribute", "attribute": "umsatz", "operator": "eq", "value": "200"}, ["bernd"]),
    ({"field": "attribute", "attribute": "umsatz", "operator": "lt", "value": "1000,5"}, ["bernd"]),
    ({"field": "attribute", "attribute": "umsatz", "operator": "gt", "value": "1000"}, ["anna"]),
    ({"field": "attribute", "attribute": "kunde_seit", "operator": "before", "value": "2021-01-01"}, ["anna"]),
    ({"field": "attribute", "attribute": "kunde_seit", "operator": "after", "value": "2021-01-01"}, ["bernd"]),
    ({"field": "attribute", "attribute": "kunde_seit", "operator": "within_days", "value": "30"}, ["bernd"]),
    ({"field": "attribute", "attribute": "kunde_seit", "operator": "within_days", "value": "10"}, ["bernd"]),
    ({"field": "attribute", "attribute": "kunde_seit", "operator": "within_days", "value": "9"}, []),
    ({"field": "attribute", "attribute": "vip", "operator": "true", "value": ""}, ["anna"]),
    ({"field": "attribute", "attribute": "vip", "operator": "false", "value": ""}, ["bernd", "carla"]),
    ({"field": "attribute", "attribute": "stufe", "operator": "is", "value": "gold"}, ["anna"]),
    ({"field": "attribute", "attribute": "stufe", "operator": "is_not", "value": "gold"}, ["bernd", "carla"]),
]


@pytest.mark.parametrize(
    ("rule", "expected"), OPERATOR_CASES, ids=lambda v: "-".join(v.values()) if isinstance(v, dict) else None
)
def test_each_operator_selects_the_same_subscribers_in_count_and_snapshot(audience, rule, expected):
    segment = save_segment(name="Test", match="all", rules=[rule])
    count, names, only_segment = reached(segment, audience)
    assert names == expected
    assert count == len(expected) == only_segment


def test_all_needs_every_rule_and_any_one_of_them(audience):
    rules = [
        {"field": "language", "operator": "is", "value": "de"},
        {"field": "attribute", "attribute": "umsatz", "operator": "gt", "value": "100"},
    ]
    assert reached(save_segment(name="Alle", match="all", rules=rules), audience)[1] == ["anna"]
    assert reached(save_segment(name="Eine", match="any", rules=rules), audience)[1] == ["anna", "bernd", "carla"]


def test_a_segment_narrows_the_campaigns_topics_and_never_widens_them(audience, topics):
    segment = save_segment(name="Deutsch", match="all", rules=[{"field": "language", "operator": "is", "value": "de"}])
    count, names, only_segment = reached(segment, [topics["finanznachrichten"]])
    assert (count, names, only_segment) == (1, ["anna"], 2)


def test_a_segment_without_rules_is_everyone_confirmed(audience):
    assert reached(save_segment(name="Leer", match="all", rules=[]), audience)[1] == ["anna", "bernd", "carla"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"field": "farbe", "operator": "is", "value": "x"}, "unknown field"),
        ({"field": "language", "operator": "gt", "value": "de"}, "does not fit"),
        ({"field": "language", "operator": "is", "value": "fr"}, "not a valid value"),
        ({"field": "topic", "operator": "is", "value": "gibt-es-nicht"}, "not a valid value"),
        ({"field": "attribute", "attribute": "stufe", "operator": "is", "value": "platin"}, "not a valid value"),
        ({"field": "attribute", "attribute": "umsatz", "operator": "gt", "value": "viel"}, "not a valid value"),
        ({"field": "attribute", "attribute": "umsatz", "operator": "contains", "value": "1"}, "does not fit"),
        ({"field": "attribute", "attribute": "fehlt", "operator": "is", "value": "x"}, "unknown attribute"),
        ({"field": "attribute", "operator": "is", "value": "x"}, "choose the attribute"),
    ],
)
def test_a_bad_rule_is_refused_by_its_number_and_nothing_is_saved(audience, rule, message):
    with pytest.raises(ValidationError) as caught:
        save_segment(name="Kaputt", match="all", rules=[{"field": "language", "operator": "is", "value": "de"}, rule])
    assert any(m.startswith("rule 2: ") and message in m for m in caught.value.messages), caught.value.messages
    assert not Segment.objects.filter(name="Kaputt").exists()


# -- the property: count == snapshot == plain Python --------------------------------------------

TEXTS = st.sampled_from(["", "K-1", "K-10", "Gold", "gold", "Ärger"])
ATTRIBUTES = st.fixed_dictionaries(
    {},
    optional={
        "kundennr": TEXTS,
        "umsatz": st.one_of(st.integers(-5, 5), st.sampled_from([0.5, 2.5, -1.5])),
        "kunde_seit": st.integers(0, 60).map(days_ago),
        "vip": st.booleans(),
        "stufe": st.sampled_from(["gold", "silber", "bronze"]),
    },
)
PEOPLE = st.lists(
    st.tuples(
        st.sampled_from(["confirmed", "confirmed", "pending", "withdrawn"]),
        st.sampled_from(["de", "en"]),
        st.integers(0, 60),
        st.sets(st.sampled_from(["finanznachrichten", "sonderangebote", "produktneuheiten"])),
        st.one_of(st.none(), ATTRIBUTES),
    ),
    max_size=8,
)
RULES = st.one_of(
    st.tuples(st.just("language"), st.just(None), st.sampled_from(["is", "is_not"]), st.sampled_from(["de", "en"])),
    st.tuples(
        st.just("topic"),
        st.just(None),
        st.sampled_from(["is", "is_not"]),
        st.sampled_from(["finanznachrichten", "sonderangebote"]),
    ),
    st.tuples(st.just("confirmed_at"), st.just(None), st.just("within_days"), st.integers(0, 60).map(str)),
    st.tuples(st.just("attribute"), st.just("kundennr"), st.sampled_from(["equals", "contains"]), TEXTS.filter(bool)),
    st.tuples(st.just("attribute"), st.just("kundennr"), st.just("empty"), st.just("")),
    st.tuples(
        st.just("attribute"),
        st.just("umsatz"),
        st.sampled_from(["eq", "lt", "gt"]),
        st.sampled_from(["0", "2", "-1,5", "2.5"]),
    ),
    st.tuples(
        st.just("attribute"),
        st.just("kunde_seit"),
        st.sampled_from(["before", "after"]),
        st.integers(0, 60).map(days_ago),
    ),
    st.tuples(st.just("attribute"), st.just("kunde_seit"), st.just("within_days"), st.integers(0, 60).map(str)),
    st.tuples(st.just("attribute"), st.just("vip"), st.sampled_from(["true", "false"]), st.just("")),
    st.tuples(
        st.just("attribute"), st.just("stufe"), st.sampled_from(["is", "is_not"]), st.sampled_from(["gold", "silber"])
    ),
)


def holds(rule, person):
    """The rule read in plain Python, independently of the SQL (docs/segments.md, "Operators")."""
    field, key, op, value = rule
    status, language, days, topics, attributes = person
    if field == "language":
        return (language == value) == (op == "is")
    if field == "topic":
        return (value in topics) == (op == "is")
    if field == "confirmed_at":
        return days + 0.5 <= int(value)
    present = (attributes or {}).get(key)
    if op == "empty":
        return present in (None, "")
    if op == "is_not":
        return present != value
    if op == "false":
        return present is not True
    if present is None:
        return False
    if op in ("equals", "is"):
        return present == value
    if op == "contains":
        return value in present
    if op == "true":
        return present is True
    if op in ("eq", "lt", "gt"):
        number = float(value.replace(",", "."))
        return {"eq": present == number, "lt": present < number, "gt": present > number}[op]
    if op == "within_days":
        return present >= days_ago(int(value))
    return present < value if op == "before" else present > value


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(people=PEOPLE, rules=st.lists(RULES, min_size=1, max_size=3), match=st.sampled_from(["all", "any"]))
def test_live_count_equals_snapshot_equals_plain_python(topics, people, rules, match):
    with transaction.atomic():
        define_all()
        expected = []
        for n, p in enumerate(people):
            status, language, days, slugs, attributes = p
            person(
                f"p{n}",
                status=status,
                language=language,
                days=days,
                topics=[topics[s] for s in slugs],
                attributes=attributes,
            )
            test = all if match == "all" else any
            if (
                status == "confirmed"
                and slugs & {"finanznachrichten", "sonderangebote"}
                and test(holds(r, p) for r in rules)
            ):
                expected.append(f"p{n}")
        rows = [{"field": f, "attribute": k, "operator": o, "value": v} for f, k, o, v in rules]
        segment = save_segment(name="Zufall", match=match, rules=rows)
        count, names, _ = reached(segment, [topics["finanznachrichten"], topics["sonderangebote"]])
        assert names == sorted(expected)
        assert count == len(expected)
        transaction.set_rollback(True)
