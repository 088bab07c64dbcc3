"""ComfyUI failing under a generation started from the chat: down, rejecting the workflow, crashing, hanging.

The artist says "generate" over the websocket; the generation runs (in-process worker threads, as
in the default install) against the fake ComfyUI on a real socket. Each fault must end the
generation (failed, with a reason the artist can act on, on its card and in the chat), lose
nothing, and leave the conversation able to generate again once ComfyUI is fine.
"""

import pytest
from asgiref.sync import sync_to_async

from generations.models import Generation, MediaOutput
from specialists.models import Conversation
from studio.core.models import Session
from tests.faults.conftest import frames_mentioning
from tests.fixtures.generations import card_frames, finished_generations, session_in_review
from tests.fixtures.websockets import ChatView

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def in_process_worker(settings, tmp_path):
    # Generations run in this process's worker threads (the default install), with or without REDIS_URL.
    settings.GENERATION_JOBS_IN_PROCESS = True
    settings.MEDIA_ROOT = tmp_path / "media"


@sync_to_async
def press_generate(session, user) -> None:
    """What the brief card's Generate button (and saying "generate") does: the service call."""
    from generations.services.generate import start_generation
    from specialists.services.turns import latest_brief

    brief = latest_brief(Conversation.objects.current(Session.objects.get(pk=session.pk))).brief
    start_generation(Session.objects.get(pk=session.pk), brief, user=user)


def take_comfyui_down(fake, settings):
    from tests.fakes.comfyui import FakeComfyUI

    port = fake.port
    fake.stop()
    settings.COMFYUI_RESTART_WINDOW = 1  # the job waits this long for it to come back (a restart), then fails

    def back():
        return FakeComfyUI(port=port, step_delay=0.005).start()

    return back


FAULTS = {
    # fault id: (make the fault -> returns a callable that clears it, words the artist must read)
    "down": (take_comfyui_down, ["stopped answering and was not back within 1 s", "python main.py --listen"]),
    "validation": (
        lambda fake, settings: (
            fake.set_checkpoints(["dreamshaper_8.safetensors"]),
            lambda: fake.set_checkpoints(["sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors"]),
        )[1],
        ["sd_xl_base_1.0.safetensors", "not installed", "dreamshaper_8.safetensors"],
    ),
    "execution": (
        lambda fake, settings: (
            fake.fail_next_with_execution_error(
                node_type="KSampler", message="CUDA out of memory", exception_type="torch.OutOfMemoryError"
            ),
            lambda: None,
        )[1],
        ["KSampler", "CUDA out of memory"],
    ),
    "hung": (
        lambda fake, settings: (fake.hang_next(), setattr(settings, "GENERATION_TIME_LIMIT", 2), lambda: None)[2],
        ["did not finish within 2 s", "GENERATION_TIME_LIMIT"],
    ),
}


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_comfyui_fault_fails_the_generation_clearly_and_the_next_generate_works(
    fault, open_socket, alice, fake_comfyui, fake_ollama, settings
):
    make_fault, words = FAULTS[fault]
    session = await session_in_review(alice)
    socket = await open_socket(alice, session.pk)
    view = ChatView()
    await view.opened(socket)
    clear = make_fault(fake_comfyui, settings)

    await press_generate(session, alice)
    [failed] = await finished_generations(session, 1)
    assert failed.status == Generation.Status.FAILED, failed.error
    for word in words:
        assert word in failed.error, f"{word!r} missing from {failed.error!r}"
    await view.drain(socket, until=lambda v: card_frames(v, failed, "failed"))
    card = card_frames(view, failed, "failed")[-1]
    assert all(word in __import__("html").unescape(card) for word in words)
    await view.drain(socket, until=lambda v: frames_mentioning(v, f"Generation #{failed.pk} failed"))
    if fault == "hung":
        assert failed.prompt_id in fake_comfyui.interrupts, "the hung prompt was left running in ComfyUI"

    fake = clear() or fake_comfyui
    await press_generate(session, alice)
    generations = await finished_generations(session, 2)
    assert [g.status for g in generations] == [Generation.Status.FAILED, Generation.Status.COMPLETE]
    again = generations[1]
    assert await sync_to_async(MediaOutput.objects.filter(generation=again).count)() == 1
    await view.drain(socket, until=lambda v: card_frames(v, again, "complete"))
    assert any(p["prompt_id"] == again.prompt_id for p in fake.prompts)
    if fake is not fake_comfyui:
        fake.stop()
    await socket.disconnect()
