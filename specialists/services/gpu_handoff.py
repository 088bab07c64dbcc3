"""The team's side of one GPU shared with ComfyUI (generations.services.gpu): Ollama lets its models go
before a job there, ComfyUI frees its models before the team's next turn, and the chat says so each time."""

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings

from generations.models import Generation
from generations.services import gpu
from specialists.models import Conversation, Message, Role
from specialists.services import llm, notify
from studio.errors import EngineError


async def _unload_ollama() -> list[str]:
    # A client of its own: this runs in a generation's worker, outside the serving process's event loop.
    client = llm.new_ollama_client()
    try:
        names = [m.get("name") or m.get("model") for m in await client.loaded()]
        for name in names:
            await client.unload(name)
        return [name for name in names if name]
    except EngineError:
        return []  # no Ollama, or it went away: nothing of ours holds the GPU
    finally:
        await client.aclose()


def _tell(conversation: Conversation, text: str) -> None:
    notice = conversation.append_message(Role.SYSTEM, text, kind=Message.Kind.NOTICE)
    notify.message_added_sync(conversation.session_id, notice.pk)


def before_generation(generation: Generation, server: str) -> None:
    """Sync, in the generation's worker: unload Ollama's models so the picture has the GPU."""
    if settings.LLM_BACKEND not in ("auto", "ollama"):
        return
    unloaded = async_to_sync(_unload_ollama)()
    if unloaded:
        models = ", ".join(unloaded)
        _tell(
            Conversation.objects.current(generation.session),
            f"Handed the GPU to ComfyUI at {server}: unloaded {models} from Ollama for the picture.",
        )


async def before_turn(conversation: Conversation) -> None:
    """Before the team speaks: ask the sharing ComfyUI servers that ran a job to free their models."""
    freed = await sync_to_async(gpu.free_held, thread_sensitive=False)()
    if freed:
        servers = ", ".join(freed)
        await sync_to_async(_tell)(
            conversation, f"Handed the GPU back to the team: ComfyUI at {servers} freed its models."
        )
