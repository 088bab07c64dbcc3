"""The one-off work of a process's first generation, done before any job arrives.

A Celery worker forks its pool after this runs, so every child starts with it done: on a busy machine
eight children each compiling templates and building a TLS context on their first job kept the
ComfyUI servers idle for most of a second (see PERFORMANCE.md, queue scaling). The web process does
it at start too: its first Generate used to import the worker's code and the broker's transport
(about 0.2 s) between storing the job and handing it over.
"""

from django.conf import settings
from django.template.loader import get_template

from generations.clients import comfyui
from generations.services import cards
from generations.tasks import run_generation


def warm_up() -> None:
    comfyui.prepare()
    for name in (cards.CARD_TEMPLATE, cards.PROGRESS_TEMPLATE, cards.PREVIEW_TEMPLATE):
        get_template(name)


def warm_up_web() -> None:
    """Everything the web process's first enqueue would set up, short of connecting to anything."""
    warm_up()
    if not settings.GENERATION_JOBS_IN_PROCESS:
        # Building the producer pool resolves (imports) the broker's transport; it connects on first use.
        _ = run_generation.app.amqp.producer_pool
