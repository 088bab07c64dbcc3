"""The one-off work of a process's first generation, done before any job arrives.

A Celery worker forks its pool after this runs, so every child starts with it done: on a busy machine
eight children each compiling templates and building a TLS context on their first job kept the
ComfyUI servers idle for most of a second (see PERFORMANCE.md, queue scaling).
"""

from django.template.loader import get_template

from generations.clients import comfyui
from generations.services import cards


def warm_up() -> None:
    comfyui.prepare()
    for name in (cards.CARD_TEMPLATE, cards.PROGRESS_TEMPLATE, cards.PREVIEW_TEMPLATE):
        get_template(name)
