"""One GPU shared by Ollama and ComfyUI: the handoffs happen in order and the chat says so."""

import asyncio

import httpx
import pytest
from asgiref.sync import sync_to_async

from generations.models import Generation
from generations.tasks import run_generation
from specialists.models import Conversation, Message
from specialists.services import runs

pytestmark = pytest.mark.django_db(transaction=True)


def notices(session) -> list[str]:
    conversation = Conversation.objects.current(session)
    return [m.content for m in conversation.messages.filter(kind=Message.Kind.NOTICE).order_by("order")]


def load_a_model(fake_ollama) -> None:
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}], "stream": False}
    httpx.post(f"{fake_ollama.url}/api/chat", json=body, timeout=10).raise_for_status()


@pytest.fixture
def shared(settings, fake_ollama, fake_comfyui):
    settings.COMFYUI_SHARES_GPU = "all"
    load_a_model(fake_ollama)
    fake_ollama.clear_requests()


def test_before_a_job_ollama_lets_its_models_go_and_the_chat_says_so(
    shared, fake_ollama, fake_comfyui, make_generation
):
    generation = make_generation()
    run_generation.apply(args=[generation.pk])
    generation.refresh_from_db()
    assert generation.status == Generation.Status.COMPLETE
    unloads = [r for r in fake_ollama.requests if r["path"] == "/api/generate"]
    assert [r["json"] for r in unloads] == [{"model": "llama3.2:latest", "keep_alive": 0}]
    assert unloads[0]["finished"] <= fake_comfyui.prompts[0]["at"], "the picture went to ComfyUI before the unload"
    assert any("Handed the GPU to ComfyUI" in text and "llama3.2" in text for text in notices(generation.session))


def test_nothing_loaded_means_nothing_to_say(settings, fake_ollama, fake_comfyui, make_generation):
    settings.COMFYUI_SHARES_GPU = "all"
    generation = make_generation()
    run_generation.apply(args=[generation.pk])
    assert not [r for r in fake_ollama.requests if r["path"] == "/api/generate"]
    assert not any("Handed the GPU" in text for text in notices(generation.session))


def test_a_server_that_shares_no_gpu_leaves_ollama_alone(fake_ollama, fake_comfyui, make_generation):
    load_a_model(fake_ollama)
    generation = make_generation()
    run_generation.apply(args=[generation.pk])
    assert not [r for r in fake_ollama.requests if r["path"] in ("/api/ps", "/api/generate")]


async def test_before_the_teams_next_turn_comfyui_frees_its_models_once(
    shared, alice, fake_ollama, fake_comfyui, make_generation
):
    from specialists.services import actions

    generation = await sync_to_async(make_generation)()
    session = generation.session
    session.model_assignments = {"critic": "llava:7b"}  # a critic that sees: Lens asks its engine
    await sync_to_async(session.save)()
    await sync_to_async(run_generation.apply)(args=[generation.pk])
    conversation = await sync_to_async(Conversation.objects.current)(generation.session)
    fake_ollama.clear_requests()
    await asyncio.wait_for(runs.run_pending(conversation.pk), 30)  # Lens looks at the result
    first_chat = min(r["started"] for r in fake_ollama.chat_requests())
    assert len(fake_comfyui.frees) == 1 and fake_comfyui.frees[0]["at"] <= first_chat
    said = await sync_to_async(notices)(generation.session)
    assert any("Handed the GPU back to the team" in text for text in said)

    await actions.post_message(generation.session, alice, "make the fox bigger")
    await asyncio.wait_for(runs.run_pending(conversation.pk), 30)
    assert len(fake_ollama.chat_requests()) > 1
    assert len(fake_comfyui.frees) == 1, "ComfyUI was asked again with no job in between"
