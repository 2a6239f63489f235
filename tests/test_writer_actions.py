"""The admin and the commands change newsroom articles and API tokens only through the apps' actions."""

import pytest
from django.core.management import call_command

from rundbrief.api import actions as api_actions
from rundbrief.api.models import ApiToken
from rundbrief.newsroom import actions as newsroom_actions
from rundbrief.newsroom.models import Article

pytestmark = pytest.mark.django_db


def test_publishing_and_unpublishing_count_only_articles_that_change(make_article):
    draft = make_article(status=Article.Status.DRAFT)
    assert newsroom_actions.publish_articles(Article.objects.filter(pk=draft.pk)) == 1
    assert newsroom_actions.publish_articles(Article.objects.filter(pk=draft.pk)) == 0
    assert Article.objects.get(pk=draft.pk).status == Article.Status.PUBLISHED
    assert newsroom_actions.unpublish_articles([Article.objects.get(pk=draft.pk)]) == 1
    assert Article.objects.get(pk=draft.pk).status == Article.Status.DRAFT


def test_a_revoked_token_stays_revoked_and_revoking_again_reports_nothing_to_do():
    record, token = api_actions.issue_api_token("shop")
    assert ApiToken.authenticate(token) == record
    assert api_actions.revoke_api_token("shop") is True
    assert ApiToken.authenticate(token) is None
    assert api_actions.revoke_api_token("shop") is False


def test_the_api_token_command_revokes_through_the_action(capsys):
    api_actions.issue_api_token("crm")
    call_command("api-token", "revoke", "crm")
    assert "revoked: crm" in capsys.readouterr().out
    assert ApiToken.objects.get(name="crm").revoked_at is not None
