"""The admin dashboard: headline figures and the audience as /metrics counts them, charts as server-side SVG,
threshold lines in their colours, numbers in the admin's language, linked from the admin index; staff only."""

import datetime as dt
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone, translation
from prometheus_client.parser import text_string_to_metric_families

from rundbrief.audience import actions, tokens
from rundbrief.audience.models import Subscriber
from rundbrief.bounces.models import BounceEvent
from rundbrief.campaigns.models import Campaign
from rundbrief.delivery.models import Delivery
from rundbrief.ops import figures
from tests.support.campaigns import make_audience, scheduled_campaign
from tests.support.readers import reader

pytestmark = pytest.mark.django_db

AMBER, RED = "#b7791f", "#c53030"


@pytest.fixture
def editor_client(client):
    client.force_login(get_user_model().objects.create_superuser("redaktion", password="x"))
    return client


def metrics_subscribers(client):
    """rundbrief_subscribers{status} as /metrics reports it."""
    values = {}
    for family in text_string_to_metric_families(client.get("/metrics").content.decode()):
        for sample in family.samples:
            if sample.name == "rundbrief_subscribers":
                values[sample.labels["status"]] = int(sample.value)
    return values


def dashboard_html(client, prefix=""):
    response = client.get(f"{prefix}/admin/dashboard/")
    assert response.status_code == 200
    return response.content.decode()


def headline(html):
    """{label: figure} of the big figures at the top."""
    cards = re.findall(r'<span class="label">([^<]*)</span><span class="figure">([^<]*)</span>', html)
    return dict(cards)


def audience_table(html):
    section = html.split('<section class="audience">')[1].split("</section>")[0]
    return dict(re.findall(r'<th scope="row">([^<]*)</th><td class="number">([^<]*)</td>', section))


def svg_titled(html, title):
    return html.split(f'aria-label="{title}"')[1].split("</svg>")[0]


def chart_ends(html):
    """The last point of each line of the subscribers chart: {series name: value} from the points' titles."""
    svg = svg_titled(html, "Abonnenten in den letzten 90 Tagen")
    return dict(re.findall(r"<circle [^>]*><title>([^<:]*): ([^<]*)</title>", svg))


def import_pending(tmp_path, count):
    path = tmp_path / "messe.csv"
    rows = "".join(f"messe{i}@example.org,finanznachrichten,,,Messe,,\n" for i in range(count))
    path.write_text("email,topics,consented_at,confirmed_at,source,ip,consent_text_version\n" + rows)
    out = io.StringIO()
    call_command("import-subscribers", str(path), "--consent-basis", "Anmeldeliste der Messe", stdout=out)
    assert f"0 confirmed, {count} pending" in out.getvalue()


def assert_dashboard_agrees_with_metrics(client, html):
    metrics = metrics_subscribers(client)
    assert metrics == {s: Subscriber.objects.filter(status=s).count() for s in Subscriber.Status.values}
    assert headline(html)["Bestätigte Abonnenten"] == str(metrics["confirmed"])
    table = audience_table(html)
    assert table["bestätigt"] == str(metrics["confirmed"])
    assert table["Bestätigung ausstehend"] == str(metrics["pending"])
    assert table["widerrufen"] == str(metrics["withdrawn"])
    assert chart_ends(html) == {
        "bestätigt": str(metrics["confirmed"]),
        "Bestätigung ausstehend": str(metrics["pending"]),
        "widerrufen": str(metrics["withdrawn"]),
    }
    return metrics


def test_an_import_of_pending_people_counts_as_pending_in_headline_table_and_chart_as_in_metrics(
    editor_client, topics, tmp_path
):
    reader("anna@example.de")
    reader("bernd@example.de", withdraw=True)
    reader("clara@example.de", confirm=False)
    import_pending(tmp_path, 40)

    metrics = assert_dashboard_agrees_with_metrics(editor_client, dashboard_html(editor_client))
    assert metrics == {"confirmed": 1, "pending": 41, "withdrawn": 1}

    # Confirmations and withdrawals move the figures the same way in both places.
    clara = Subscriber.objects.get(email="clara@example.de")
    actions.confirm_subscription(tokens.make_token(tokens.CONFIRM, clara.public_id, clara.confirm_nonce))
    actions.withdraw_consent(Subscriber.objects.get(email="anna@example.de"))
    actions.withdraw_consent(Subscriber.objects.get(email="messe3@example.org"))  # never confirmed
    html = dashboard_html(editor_client)
    metrics = assert_dashboard_agrees_with_metrics(editor_client, html)
    assert metrics == {"confirmed": 1, "pending": 39, "withdrawn": 3}
    assert headline(html)["Neu in den letzten 7 Tagen"] == "1"  # clara; anna withdrew since
    assert headline(html)["Abmeldungen in den letzten 30 Tagen"] == "3"


def test_the_curve_walks_back_from_todays_counts_through_each_days_changes(topics):
    today = timezone.localdate()
    old = timezone.now() - dt.timedelta(days=20)
    Subscriber.objects.create(email="alt@example.de", status="confirmed", requested_at=old, confirmed_at=old)
    ten_days_ago = timezone.now() - dt.timedelta(days=10)
    Subscriber.objects.create(
        email="weg@example.de",
        status="withdrawn",
        requested_at=old,
        confirmed_at=old + dt.timedelta(hours=1),
        withdrawn_at=ten_days_ago,
    )
    Subscriber.objects.create(
        email="nie@example.de",
        status="withdrawn",
        requested_at=timezone.now() - dt.timedelta(days=6),
        withdrawn_at=timezone.now() - dt.timedelta(days=3),
    )
    Subscriber.objects.create(email="neu@example.de", status="pending")

    dates, series = figures.growth(today, 30)
    assert dates[-1] == today and len(dates) == 30
    # Day i is today - 29 + i. Until 21 days ago nobody; from 20 days ago (i = 9) two confirmed; from 10
    # days ago (i = 19) one of them withdrawn; 6 to 4 days ago (i = 23..25) one pending, who withdrew
    # unconfirmed 3 days ago; today one pending more.
    assert series["confirmed"][:9] == [0] * 9 and series["confirmed"][9:19] == [2] * 10
    assert series["confirmed"][19:] == [1] * 11
    assert series["withdrawn"][:19] == [0] * 19 and series["withdrawn"][19:26] == [1] * 7
    assert series["withdrawn"][26:] == [2] * 4
    assert series["pending"] == [0] * 23 + [1] * 3 + [0] * 3 + [1]


def test_a_date_in_the_future_counts_as_today_so_yesterday_does_not_show_that_person(topics):
    later = timezone.now() + dt.timedelta(days=2)  # e.g. an imported confirmation date from a clock ahead
    Subscriber.objects.create(email="zukunft@example.de", status="confirmed", requested_at=later, confirmed_at=later)
    _dates, series = figures.growth(timezone.localdate(), 3)
    assert series["confirmed"] == [0, 0, 1]


def test_per_topic_counts_show_confirmed_subscribers_on_the_dashboard_and_in_the_topic_list(editor_client, topics):
    make_audience(topics["finanznachrichten"], 3)
    make_audience(topics["sonderangebote"], 2, prefix="angebot")
    pending = Subscriber.objects.create(email="offen@example.de")
    pending.subscriptions.create(topic=topics["sonderangebote"])
    actions.withdraw_consent(Subscriber.objects.get(email="leser0@example.org"))

    section = dashboard_html(editor_client).split('<section class="topics">')[1].split("</section>")[0]
    assert re.findall(r'<th scope="row">([^<]*)</th><td class="number">([^<]*)</td>', section) == [
        ("Produktneuheiten", "0"),
        ("Finanznachrichten", "2"),
        ("Sonderangebote", "2"),
    ]
    listing = editor_client.get("/admin/newsroom/topic/").content.decode()
    assert re.search(r"Finanznachrichten</a></th>.*?<td class=\"field-confirmed_subscribers\">2</td>", listing, re.S)
    assert re.search(r"Sonderangebote</a></th>.*?<td class=\"field-confirmed_subscribers\">2</td>", listing, re.S)


def sent_campaign(finance, recipients, complaints):
    make_audience(finance, recipients, prefix=f"c{complaints}x")
    campaign = scheduled_campaign([finance], subject="Gold & Silber <Wochenbericht>")
    start = timezone.now() - dt.timedelta(minutes=10)
    Campaign.objects.filter(pk=campaign.pk).update(state="finished", started_at=start, finished_at=start)
    rows = list(Delivery.objects.filter(campaign=campaign))
    for i, row in enumerate(rows):
        row.state, row.sent_at = "sent", start + dt.timedelta(seconds=20 * i)
    Delivery.objects.bulk_update(rows, ["state", "sent_at"])
    for _ in range(complaints):
        BounceEvent.objects.create(kind="complaint", source="api", campaign=campaign)
    return campaign


def test_dashboard_draws_every_chart_as_svg_without_script(editor_client, finance):
    sent_campaign(finance, 20, complaints=1)
    reader("anna@example.de")  # a sign-up for the conversion chart, after the campaign

    html = dashboard_html(editor_client).split('id="content-main"')[1]
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" viewBox') == 6 and "<script" not in html
    assert "Gold &amp; Silber &lt;Wochenbericht&gt;" in html and "<Wochenbericht>" not in html
    cards = headline(html)
    assert cards["Zugestellt"] == "20" and cards["Beschwerdequote"] == "5 %"  # 1 complaint in 20 accepted


def limit_lines(svg):
    """(label, stroke colour, y) of each threshold line."""
    lines = re.findall(
        r'<line class="limit" [^>]*y1="([\d.]+)"[^>]*stroke="(#\w+)"[^>]*/><text [^>]*>([^<]*)</text>', svg
    )
    return [(label, colour, float(y)) for y, colour, label in lines]


def test_the_complaint_chart_draws_the_warning_line_amber_and_the_pause_line_red(editor_client, finance, settings):
    settings.BOUNCE_COMPLAINT_WARN_RATE, settings.BOUNCE_COMPLAINT_PAUSE_RATE = 0.001, 0.005
    sent_campaign(finance, 20, complaints=0)
    html = dashboard_html(editor_client)
    svg = svg_titled(html, "Beschwerdequote pro Kampagne")
    (warn_label, warn_colour, warn_y), (pause_label, pause_colour, pause_y) = limit_lines(svg)
    assert (warn_label, warn_colour) == ("Warnung 0,1 %", AMBER)
    assert (pause_label, pause_colour) == ("Pause 0,5 %", RED)  # the configured pause rate, not a fixed 0.3 %
    assert pause_y < warn_y  # higher on the chart
    headline_card = re.search(r'<li class="([^"]*)"><span class="label">Beschwerdequote', html)
    assert headline_card.group(1) == ""  # 0 %: neither amber nor red


def test_a_complaint_rate_above_the_pause_threshold_is_red_in_the_headline_and_its_bar(editor_client, finance):
    sent_campaign(finance, 20, complaints=1)  # 5 %, above 0.3 %
    html = dashboard_html(editor_client)
    assert re.search(r'<li class="stop"><span class="label">Beschwerdequote', html)
    svg = svg_titled(html, "Beschwerdequote pro Kampagne")
    assert re.search(rf'<rect [^>]*fill="{RED}"><title>#\d+: 5 %</title>', svg)


def test_numbers_and_dates_are_german_in_the_german_admin_and_english_in_the_english(editor_client, finance):
    make_audience(finance, 1200)
    sent_campaign(finance, 3, complaints=0)

    german = dashboard_html(editor_client)
    assert headline(german)["Bestätigte Abonnenten"] == "1.203"
    assert "Warnung 0,1 %" in german and "Pause 0,3 %" in german
    today = timezone.localdate()
    assert f">{today:%d.%m.}</text>" in german  # the chart's last day
    assert re.search(rf"Letzte Kampagne: Gold [^,]*, {today:%d.%m.%Y} \d\d:\d\d", german)

    english = dashboard_html(editor_client, prefix="/en")
    assert headline(english)["Confirmed subscribers"] == "1,203"
    assert "warning 0.1%" in english and "pause 0.3%" in english
    assert f">{today:%b} {today.day}</text>" in english


@pytest.mark.parametrize("prefix, name", [("", "Übersicht"), ("/en", "Dashboard")])
def test_the_admin_index_and_top_bar_link_to_the_dashboard_in_the_admins_language(editor_client, prefix, name):
    index = editor_client.get(f"{prefix}/admin/").content.decode()
    box = index.split('id="rundbrief-dashboard-link"')[1].split("</div>")[0]
    assert f'href="{prefix}/admin/dashboard/"' in box and f"<h2>{name}</h2>" in box
    userlinks = index.split('id="user-tools"')[1].split("</div>")[0]
    assert f'href="{prefix}/admin/dashboard/">{name}</a>' in userlinks


@pytest.mark.parametrize("prefix", ["", "/en"])
def test_dashboard_is_for_staff_only(client, prefix):
    response = client.get(f"{prefix}/admin/dashboard/")
    assert response.status_code == 302 and f"{prefix}/admin/login/" in response["Location"]


def _axis_labels(svg):
    return re.findall(r'text-anchor="end" font-size="10">([^<]*)</text>', str(svg))


@pytest.mark.parametrize(
    "values, labels",
    [
        ([0, 1, 0], ["0", "1", "2", "3", "4"]),
        ([0, 0], ["0", "1", "2", "3", "4"]),
        ([3, 7], ["0", "2", "4", "6", "8"]),
        ([10, 9], ["0", "5", "10", "15", "20"]),
        ([130, 20], ["0", "50", "100", "150", "200"]),
        ([900], ["0", "250", "500", "750", "1.000"]),
    ],
)
def test_count_axes_are_labelled_with_whole_numbers_that_match_the_grid(values, labels):
    # The dashboard once labelled a chart of 0 and 1 "0 0 0 1 1": quarter steps rounded away.
    from rundbrief.ops import charts

    with translation.override("de"):
        assert _axis_labels(charts.line_chart([str(i) for i in range(len(values))], {"n": values}, "t")) == labels
        assert _axis_labels(charts.bar_chart([(str(i), v) for i, v in enumerate(values)], "t")) == labels


def test_fraction_axes_keep_the_precision_of_their_step():
    from rundbrief.ops import charts

    limits = [(0.001, "0,1 %", charts.WARN_COLOUR)]
    bars = [("KW 47", 0.0004), ("KW 48", 0.0011)]
    # Highest value 0.12 % (the 0.1 % limit line with head room): the step becomes 0.05 %.
    with translation.override("de"):
        svg = charts.bar_chart(bars, "t", fmt=charts.percent, limits=limits)
        assert _axis_labels(svg) == ["0 %", "0,05 %", "0,10 %", "0,15 %", "0,20 %"]
    with translation.override("en"):
        svg = charts.bar_chart(bars, "t", fmt=charts.percent, limits=limits)
        assert _axis_labels(svg) == ["0%", "0.05%", "0.10%", "0.15%", "0.20%"]
