"""Downloading a model into Ollama from the settings page, with its progress and a way to cancel it.

The download runs in a thread of the process that was asked (it only waits on Ollama); its progress and a
cancel request live in the ModelPull row, so any process can show or cancel it.
"""

import contextlib
import re
import threading
import time
from datetime import timedelta

from asgiref.sync import async_to_sync, sync_to_async
from django.db import IntegrityError, transaction
from django.utils import timezone

from specialists.models import ModelPull
from specialists.services import llm
from studio.errors import EngineError

# How often progress is written and a cancel request looked for.
PROGRESS_EVERY = 0.5
# A pull that has reported nothing for this long died with its process.
STALE_AFTER = timedelta(minutes=2)
# Ollama's model names: library/name:tag, letters, digits and . _ - : /
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-/]{0,150}(:[A-Za-z0-9._\-]{1,60})?")


class PullRefused(Exception):
    """The sentence to show."""


def start(user, model: str, *, in_background: bool = True) -> ModelPull:
    model = (model or "").strip()
    if not _NAME.fullmatch(model):
        raise PullRefused("Write a model name as Ollama lists it, for example llama3.2 or qwen2.5:7b.")
    _end_stale(model)
    try:
        with transaction.atomic():
            pull = ModelPull.objects.create(requested_by=user, model=model)
    except IntegrityError:
        raise PullRefused(f"{model} is already being downloaded.") from None
    if in_background:
        threading.Thread(target=run, args=(pull.pk,), name=f"model-pull-{pull.pk}", daemon=True).start()
    return pull


def _end_stale(model: str) -> None:
    cutoff = timezone.now() - STALE_AFTER
    for pull in ModelPull.objects.filter(model=model, status=ModelPull.Status.PULLING, updated_at__lt=cutoff):
        pull.end(ModelPull.Status.FAILED, "The studio stopped while downloading; start again.")


def run(pull_id: int) -> str:
    """Download the pull's model; returns how it ended. Safe to call for a pull that already ended."""
    return async_to_sync(_run)(pull_id)


async def _run(pull_id: int) -> str:
    pull = await ModelPull.objects.filter(pk=pull_id).afirst()
    if pull is None or pull.status != ModelPull.Status.PULLING:
        return "nothing to do"
    client = llm.new_ollama_client()
    try:
        last, installed = 0.0, False
        async with contextlib.aclosing(client.pull(pull.model)) as lines:
            async for line in lines:
                if line.get("status") == "success":
                    installed = True
                    break
                if time.monotonic() - last < PROGRESS_EVERY:
                    continue
                last = time.monotonic()
                if await sync_to_async(pull.cancel_wanted)():
                    break  # closing the request stops Ollama's download
                stage, total = str(line.get("status") or ""), int(line.get("total") or 0)
                if not await sync_to_async(pull.progress)(stage, int(line.get("completed") or 0), total):
                    break
            else:
                raise EngineError(f"Ollama stopped before {pull.model} was complete; try again.")
        await sync_to_async(pull.end)(ModelPull.Status.COMPLETE if installed else ModelPull.Status.CANCELLED)
    except EngineError as exc:
        await sync_to_async(pull.end)(ModelPull.Status.FAILED, exc.message)
    finally:
        await client.aclose()
    return pull.status
