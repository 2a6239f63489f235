from django import template

from rundbrief.newsroom.seo import news_article_ld

register = template.Library()


@register.simple_tag(takes_context=True)
def article_ld_json(context, article):
    return news_article_ld(article, context["site_profile"])
