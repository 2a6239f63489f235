"""Editors manage topics, articles and the site profile in the admin, and preview before publishing."""

import pytest

from rundbrief.newsroom.models import Article

pytestmark = pytest.mark.django_db


def test_editor_creates_a_draft_and_sees_the_preview_link(admin_client, topics):
    response = admin_client.post(
        "/admin/newsroom/article/add/",
        {
            "title": "Silber im Aufwind",
            "slug": "silber-im-aufwind",
            "lead": "Kurz.",
            "body": "## Markt\n\nText",
            "status": "draft",
            "published_at_0": "07.04.2025",
            "published_at_1": "13:45:00",
            "author_name": "Redaktion",
            "topics": [topics["finanznachrichten"].pk],
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    article = Article.objects.get(slug="silber-im-aufwind")
    assert article.status == "draft" and article.body_html.startswith("<h2>Markt</h2>")
    change = admin_client.get(f"/admin/newsroom/article/{article.pk}/change/").content.decode()
    assert f'href="/vorschau/{article.pk}/"' in change


def test_admin_rejects_a_title_over_200_characters_with_a_message(admin_client):
    response = admin_client.post(
        "/admin/newsroom/article/add/",
        {
            "title": "T" * 301,
            "slug": "t",
            "status": "draft",
            "published_at_0": "07.04.2025",
            "published_at_1": "13:45:00",
        },
    )
    assert response.status_code == 200
    assert "höchstens 200 Zeichen" in response.content.decode()
    assert not Article.objects.exists()


def test_publish_action_publishes_selected_drafts(admin_client, make_article):
    draft = make_article(slug="entwurf", status="draft")
    admin_client.post("/admin/newsroom/article/", {"action": "publish", "_selected_action": [draft.pk]})
    draft.refresh_from_db()
    assert draft.status == "published"


def test_site_profile_is_a_single_editable_row(admin_client, demo_site):
    assert admin_client.get("/admin/newsroom/siteprofile/1/change/").status_code == 200
    assert admin_client.get("/admin/newsroom/siteprofile/add/").status_code == 403


def test_admin_pages_render_for_every_model(admin_client, demo_site):
    for path in [
        "/admin/",
        "/admin/newsroom/article/",
        "/admin/newsroom/topic/",
        "/admin/newsroom/siteprofile/",
        "/admin/newsroom/article/add/",
        "/en/admin/newsroom/article/",
    ]:
        assert admin_client.get(path).status_code == 200, path
