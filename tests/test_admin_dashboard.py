"""The admin dashboard shows audience and delivery as server-side SVG, to staff only."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from rundbrief.bounces.models import BounceEvent
from rundbrief.campaigns.models import Campaign
from rundbrief.delivery.models import Delivery
from tests.support.campaigns import make_audience, scheduled_campaign
from tests.support.readers import reader

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor_client(client):
    client.force_login(get_user_model().objects.create_superuser("redaktion", password="x"))
    return client


def test_dashboard_draws_every_chart_as_svg_without_script(editor_client, finance):
    reader("anna@example.de")
    reader("bernd@example.de", withdraw=True)
    reader("clara@example.de", confirm=False)
    make_audience(finance, 20)
    campaign = scheduled_campaign([finance], subject="Gold & Silber <Wochenbericht>")
    start = timezone.now() - dt.timedelta(minutes=10)
    Campaign.objects.filter(pk=campaign.pk).update(state="finished", started_at=start, finished_at=start)
    rows = list(Delivery.objects.filter(campaign=campaign))
    for i, row in enumerate(rows):
        row.state, row.sent_at = "sent", start + dt.timedelta(seconds=20 * i)
    Delivery.objects.bulk_update(rows, ["state", "sent_at"])
    BounceEvent.objects.create(kind="complaint", source="api", campaign=campaign)

    response = editor_client.get("/admin/dashboard/")
    assert response.status_code == 200
    html = response.content.decode().split('id="content-main"')[1].split("<!-- END SVGs")[0]
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" viewBox') == 6 and "<script" not in html
    assert "Gold &amp; Silber &lt;Wochenbericht&gt;" in html and "<Wochenbericht>" not in html
    assert "0.1 %" in html and "0.3 %" in html and "5%" in html  # 1 complaint in 20 accepted


def test_dashboard_is_for_staff_only(client):
    response = client.get("/admin/dashboard/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def _axis_labels(svg):
    import re

    return re.findall(r'text-anchor="end" font-size="10">([^<]*)</text>', str(svg))


@pytest.mark.parametrize(
    "values, labels",
    [
        ([0, 1, 0], ["0", "1", "2", "3", "4"]),
        ([0, 0], ["0", "1", "2", "3", "4"]),
        ([3, 7], ["0", "2", "4", "6", "8"]),
        ([10, 9], ["0", "5", "10", "15", "20"]),
        ([130, 20], ["0", "50", "100", "150", "200"]),
        ([900], ["0", "250", "500", "750", "1,000"]),
    ],
)
def test_count_axes_are_labelled_with_whole_numbers_that_match_the_grid(values, labels):
    # The dashboard once labelled a chart of 0 and 1 "0 0 0 1 1": quarter steps rounded away.
    from rundbrief.ops import charts

    assert _axis_labels(charts.line_chart([str(i) for i in range(len(values))], {"n": values}, "t")) == labels
    assert _axis_labels(charts.bar_chart([(str(i), v) for i, v in enumerate(values)], "t")) == labels


def test_fraction_axes_keep_the_precision_of_their_step():
    from rundbrief.ops import charts
    from rundbrief.ops.dashboard import _percent

    svg = charts.bar_chart([("KW 47", 0.0004), ("KW 48", 0.0011)], "t", fmt=_percent, limits=[(0.001, "0,1 %")])
    # Highest value 0.12 % (the 0.1 % limit line with head room): the step becomes 0.05 %.
    assert _axis_labels(svg) == ["0%", "0.05%", "0.10%", "0.15%", "0.20%"]
