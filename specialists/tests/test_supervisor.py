"""The supervisor: the conversation carries on with no browser open, and a restarted studio picks up its work."""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from generations.models import Generation
from generations.services.generate import start_generation
from generations.services.runner import STALE_AFTER
from generations.workflows import TEMPLATES
from specialists.models import Conversation, Message, Phase, Role
from specialists.services import supervisor
from specialists.services.sessions import start_session
from tests.fixtures.generations import BRIEF, finished_generations, session_in_review

pytestmark = pytest.mark.django_db(transaction=True)


async def wait_for(read, predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = await sync_to_async(read)()
        if predicate(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last seen: {value!r}")
        await asyncio.sleep(0.05)


def messages(session) -> list[Message]:
    return list(Message.objects.filter(conversation__session=session).order_by("order"))


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.wait({task})


async def test_a_generation_finished_with_no_browser_open_is_reviewed_by_lens(
    alice, fake_comfyui, fake_ollama, settings
):
    settings.GENERATION_JOBS_IN_PROCESS = True  # the serving process runs the job: no worker in this test
    session = await session_in_review(alice, BRIEF)
    running = supervisor.start()  # what the serving process does at start-up; no websocket is ever opened
    await sync_to_async(start_generation)(session, BRIEF, user=alice)

    [generation] = await finished_generations(session, 1, timeout=30)
    assert generation.status == Generation.Status.COMPLETE
    stored = await wait_for(
        lambda: messages(session),
        lambda ms: ms[-1].role == Role.CRITIC and ms[-1].status == Message.Status.COMPLETE,
        30,
        "Lens's comment on the result",
    )
    result = next(m for m in stored if m.kind == Message.Kind.RESULT)
    assert result.generation_id == generation.pk and stored[-1].order > result.order and stored[-1].content
    conversation = await sync_to_async(Conversation.objects.current)(session)
    assert conversation.phase == Phase.COMPLETE
    await stop(running)


async def test_a_job_the_killed_studio_was_running_resumes_at_once_when_it_starts_again(
    alice, fake_comfyui, fake_ollama, settings
):
    settings.GENERATION_JOBS_IN_PROCESS = True
    session = await session_in_review(alice, BRIEF)

    # The killed process had claimed the job a moment ago: its heartbeat still looks fresh.
    @sync_to_async
    def orphan() -> Generation:
        generation = Generation.objects.create(
            session=session, parameters=BRIEF, status=Generation.Status.RUNNING, server=fake_comfyui.url,
            heartbeat_at=timezone.now(), started_at=timezone.now(), attempts=1,
        )
        generation.workflow = TEMPLATES["txt2img"](generation.parameters, prefix=f"t{generation.pk}")
        generation.save(update_fields=["workflow"])
        return generation

    generation = await orphan()
    started = time.monotonic()
    running = supervisor.start()  # the studio starts again
    [done] = await finished_generations(session, 1, timeout=10)
    assert done.pk == generation.pk and done.status == Generation.Status.COMPLETE
    assert time.monotonic() - started < STALE_AFTER.total_seconds()  # not left waiting for the heartbeat to age
    assert len(fake_comfyui.prompts) == 1
    await stop(running)


@pytest.mark.worker
async def test_a_generation_finished_by_a_celery_worker_is_reviewed_with_no_browser_open(
    alice, fake_comfyui, fake_ollama, celery_worker_process
):
    session = await session_in_review(alice, BRIEF)
    running = supervisor.start()  # the web process; the job runs in the worker process, which wakes it
    await sync_to_async(start_generation)(session, BRIEF, user=alice)

    [generation] = await finished_generations(session, 1, timeout=60)
    assert generation.status == Generation.Status.COMPLETE, generation.error
    await wait_for(
        lambda: messages(session),
        lambda ms: ms[-1].role == Role.CRITIC and ms[-1].status == Message.Status.COMPLETE,
        30,
        "Lens's comment on the result",
    )
    await stop(running)


async def test_a_new_session_is_answered_by_the_team_with_no_page_open(alice, fake_ollama):
    running = supervisor.start()
    session = await sync_to_async(start_session)(alice, "A fox", "a fox in the snow")
    await wait_for(
        lambda: messages(session),
        lambda ms: any(m.role == Role.STYLE and m.status == Message.Status.COMPLETE for m in ms),
        30,
        "Luna's first reply",
    )
    await stop(running)
