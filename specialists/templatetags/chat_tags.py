from django import template
from django.utils.safestring import mark_safe

from specialists.services.markdown_text import to_html

register = template.Library()


@register.filter
def as_markdown(text: str) -> str:
    """A settled reply, rendered and sanitised (specialists.services.markdown_text)."""
    return mark_safe(to_html(text))  # noqa: S308 - nh3 keeps only the allow-list
