"""The orchestrator run against the fake Ollama over a real socket."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from specialists.models import Conversation, Message, Phase, Role
from specialists.services import runs
from studio.core.models import Session
from tests.fixtures.conversations import put_in_phase

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def start(user, idea="a fox in the snow", **session_fields):
    session = Session.objects.create(owner=user, title="Fox", **session_fields)
    conversation = Conversation.objects.create(session=session)
    conversation.append_message(Role.USER, idea)
    return conversation


@sync_to_async
def stored(conversation):
    return list(conversation.messages.order_by("order"))


@sync_to_async
def refreshed(conversation):
    conversation.refresh_from_db()
    return conversation


async def run(conversation):
    await asyncio.wait_for(runs.run_pending(conversation.pk), 30)


def chat_requests(fake):
    return [r for r in fake.requests if r["path"] == "/api/chat"]


async def test_the_ideation_team_answers_in_turn_with_their_own_voices(alice, fake_ollama):
    conversation = await start(alice)
    await run(conversation)
    messages = await stored(conversation)
    assert [m.role for m in messages] == [Role.USER, Role.STYLE, Role.COMPOSITION, Role.STORY]
    assert all(m.status == Message.Status.COMPLETE and m.content for m in messages)
    assert all(m.metadata["backend"] == "ollama" for m in messages[1:])
    requests = chat_requests(fake_ollama)
    systems = [r["json"]["messages"][0]["content"] for r in requests]
    assert systems[0].startswith("You are Luna") and systems[1].startswith("You are Frame")
    assert systems[2].startswith("You are Saga")
    # Frame hears what Luna said, attributed to her.
    frame_history = " ".join(m["content"] for m in requests[1]["json"]["messages"][1:])
    assert f"[Luna]: {messages[1].content}" in frame_history
    assert "[Artist]: a fox in the snow" in frame_history


async def test_concurrent_rounds_overlap_when_the_session_allows_it(alice, fake_ollama):
    fake_ollama.token_delay = 0.02
    conversation = await start(alice, settings={"concurrent": True})
    await run(conversation)
    requests = chat_requests(fake_ollama)
    assert len(requests) == 3
    starts = sorted(r["started"] for r in requests)
    ends = sorted(r["finished"] for r in requests)
    assert starts[-1] < ends[0], "the three replies did not stream at the same time"
    messages = await stored(conversation)
    assert [m.role for m in messages] == [Role.USER, Role.STYLE, Role.COMPOSITION, Role.STORY]


async def test_a_missing_model_fails_with_the_pull_command_and_stops_the_turn(alice, fake_ollama):
    conversation = await start(alice, model_assignments={"style": "not-installed:7b"})
    await run(conversation)
    messages = await stored(conversation)
    assert [m.role for m in messages] == [Role.USER, Role.STYLE]
    failed = messages[1]
    assert failed.status == Message.Status.FAILED
    assert "ollama pull not-installed:7b" in failed.metadata["error"]


async def test_ollama_down_is_reported_and_retry_resumes_once_it_is_back(alice, settings, dead_url, fake_ollama):
    good_url = settings.OLLAMA_URL
    settings.OLLAMA_URL = dead_url
    from specialists.services import llm

    llm.reset_clients()
    conversation = await start(alice)
    await run(conversation)
    messages = await stored(conversation)
    assert messages[-1].status == Message.Status.FAILED
    assert "not reachable" in messages[-1].metadata["error"]

    settings.OLLAMA_URL = good_url
    llm.reset_clients()
    from specialists.services import actions

    assert await actions.retry(await sync_to_async(lambda: conversation.session)()) == 1
    await run(conversation)
    messages = await stored(conversation)
    assert [m.role for m in messages if m.status == Message.Status.COMPLETE] == [
        Role.USER,
        Role.STYLE,
        Role.COMPOSITION,
        Role.STORY,
    ]


async def test_a_mid_stream_error_keeps_the_partial_text(alice, fake_ollama):
    fake_ollama.fail_next("error_line", after_tokens=3)
    conversation = await start(alice)
    await run(conversation)
    failed = (await stored(conversation))[1]
    assert failed.status == Message.Status.FAILED and failed.content
    assert failed.metadata["error"]


async def test_the_conversation_flows_to_a_reviewed_brief(alice, fake_ollama, fake_comfyui):
    conversation = await start(alice, settings={"rounds": {"ideation": 1, "refinement": 1}})
    await run(conversation)
    conversation = await refreshed(conversation)
    assert conversation.phase == Phase.REVIEW
    messages = await stored(conversation)
    roles = [m.role for m in messages if m.role != Role.SYSTEM]
    assert roles == [Role.USER] + [Role.STYLE, Role.COMPOSITION, Role.STORY] * 1 + [
        Role.STYLE,
        Role.COMPOSITION,
        Role.STORY,
        Role.CRITIC,
        Role.TECHNICAL,
        Role.CRITIC,
    ]
    brief_message = next(m for m in messages if m.kind == "brief")
    brief = brief_message.brief
    assert brief["positive_prompt"]
    assert brief["checkpoint"] in fake_comfyui.checkpoints
    assert brief["width"] % 8 == 0 and 1 <= brief["steps"] <= 150
    pixel_request = [r for r in chat_requests(fake_ollama) if r["json"].get("format")][0]
    assert pixel_request["json"]["format"]["type"] == "object"


async def test_an_orphaned_reply_is_recovered_as_interrupted(alice, fake_ollama):
    from datetime import timedelta

    from django.utils import timezone

    from specialists.services.live import live

    conversation = await start(alice)

    @sync_to_async
    def leave_an_orphan():
        message = conversation.append_message(Role.STYLE, "half", status=Message.Status.STREAMING)
        Conversation.objects.filter(pk=conversation.pk).update(running_since=timezone.now() - timedelta(minutes=5))
        return message

    orphan = await leave_an_orphan()
    await live().append(orphan.pk, "half a thought")
    await run(conversation)
    messages = await stored(conversation)
    recovered = messages[1]
    assert recovered.pk == orphan.pk
    assert recovered.status == Message.Status.INTERRUPTED and recovered.content == "half a thought"
    assert [m.role for m in messages[2:]] == [Role.COMPOSITION, Role.STORY]


async def test_a_live_claim_from_another_process_is_respected(alice, fake_ollama):
    from django.utils import timezone

    conversation = await start(alice)
    await sync_to_async(Conversation.objects.filter(pk=conversation.pk).update)(running_since=timezone.now())
    await run(conversation)
    assert len(await stored(conversation)) == 1
    assert chat_requests(fake_ollama) == []


async def test_lens_looks_at_the_result_with_a_vision_model(alice, fake_ollama, settings, tmp_path):
    import base64

    from django.core.files.base import ContentFile

    from generations.models import Generation, MediaOutput

    settings.MEDIA_ROOT = tmp_path
    conversation = await start(alice, model_assignments={"critic": "llava:7b"})

    @sync_to_async
    def finish_a_generation():
        put_in_phase(conversation, Phase.COMPLETE)
        generation = Generation.objects.create(
            session=conversation.session, status="complete"
        )
        output = MediaOutput(
            generation=generation, kind="image", content_type="image/png", source_key="k", size_bytes=9
        )
        output.file.save("r.png", ContentFile(b"PNGBYTES!"))
        conversation.append_message(Role.SYSTEM, "ready", kind="result", opens_turn=True, generation=generation)

    await finish_a_generation()
    await run(conversation)
    lens = (await stored(conversation))[-1]
    assert lens.role == Role.CRITIC and lens.status == Message.Status.COMPLETE and lens.metadata["saw_image"]
    request = chat_requests(fake_ollama)[-1]["json"]
    assert request["model"].startswith("llava")
    assert request["messages"][-1]["images"] == [base64.b64encode(b"PNGBYTES!").decode()]
