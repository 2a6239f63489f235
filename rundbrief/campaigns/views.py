"""Reader-facing pages of campaigns: the newsletter archive and a campaign's web version."""

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, render

from rundbrief.campaigns.archive import archived_campaigns
from rundbrief.campaigns.models import Campaign
from rundbrief.campaigns.rendering import render_campaign
from rundbrief.campaigns.webversion import page_html

ARCHIVE_PER_PAGE = 20


def archive(request):
    # get_page() turns "abc", "-1" and "99999999999" into the nearest real page.
    page = Paginator(archived_campaigns(), ARCHIVE_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "campaigns/archive.html", {"page": page})


def web_version(request, token):
    """Public once sending has started; before that only editors see it (rendered as it stands),
    and everyone else gets the same 404 as for a token that does not exist."""
    campaign = get_object_or_404(Campaign, web_token=token)
    if campaign.web_version_is_public:
        subject, mail_html = campaign.frozen_subject, campaign.frozen_html
    elif request.user.is_active and request.user.is_staff:
        rendered = render_campaign(campaign)
        subject, mail_html = rendered.subject, rendered.html
    else:
        raise Http404
    context = {"campaign": campaign, "subject": subject, "mail_html": page_html(mail_html)}
    response = render(request, "campaigns/web_version.html", context)
    if not campaign.is_archived:
        # Kept out of search engines unless the editors publish it in the archive.
        response["X-Robots-Tag"] = "noindex"
    return response
