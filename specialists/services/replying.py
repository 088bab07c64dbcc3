"""One specialist's reply from start to settled: the engine, its options and history, the streaming bubble."""

from asgiref.sync import sync_to_async
from django.conf import settings

from specialists.clients.base import Capabilities, LLMClient
from specialists.clients.ollama import think_off
from specialists.models import Conversation, Message, Role
from specialists.services import chat_html, llm, notify
from specialists.services.context import build_messages, history_budget
from specialists.services.live import live
from specialists.services.streaming import StreamResult
from studio.errors import EngineError

# A persona's turn is 2 to 4 sentences (under 90 words); a brief is JSON and needs the full budget.
CHAT_REPLY_TOKENS = 220
# A thinking model that thinks anyway (some cannot stop) spends its reasoning from the same num_predict as
# its reply: this much more keeps the reply's own budget.
THINKING_ALLOWANCE = 1024


def reply_tokens(role: str) -> int:
    """A reply's own token budget, reasoning aside."""
    return settings.LLM_MAX_TOKENS if role == Role.TECHNICAL else min(settings.LLM_MAX_TOKENS, CHAT_REPLY_TOKENS)


def options(role: str, caps: Capabilities) -> dict:
    temperature = 0.2 if role == Role.TECHNICAL else 0.8
    limit = reply_tokens(role) + (THINKING_ALLOWANCE if caps.thinking else 0)
    return {"temperature": temperature, "num_predict": limit, "repeat_penalty": 1.2}


async def history(conversation: Conversation, role: str, client: LLMClient, caps: Capabilities, **extra) -> list:
    """What ``role`` hears, within what the model's context holds next to its reply."""
    return await sync_to_async(build_messages)(
        await load(conversation.pk),
        role,
        compact=client.backend == "embedded",
        history_chars=history_budget(caps.context_length, options(role, caps)["num_predict"]),
        **extra,
    )


def think(client: LLMClient, model: str, caps: Capabilities) -> bool | str | None:
    """Ask a thinking model not to think (Ollama's `think`); None leaves a model that cannot think alone."""
    if client.backend != "ollama" or not caps.thinking:
        return None
    return think_off(model)


def reply_meta(model: str, client: LLMClient, result: StreamResult) -> dict:
    meta = {"model": model, "backend": client.backend, "stats": result.stats}
    if result.thinking:
        meta["thinking"] = result.thinking[:20000]
    return meta


@sync_to_async
def load(conversation_id: int) -> Conversation:
    return Conversation.objects.select_related("session").get(pk=conversation_id)


@sync_to_async
def create_streaming(conversation: Conversation, role: str, kind: str) -> tuple[Message, str]:
    message = conversation.append_message(role, "", kind=kind, status=Message.Status.STREAMING)
    return message, chat_html.render_message(message, append=True)


async def start_streaming(conversation: Conversation, role: str, kind: str) -> Message:
    message, html = await create_streaming(conversation, role, kind)
    await notify.bubble_added(conversation.session_id, message.pk, html)
    return message


@sync_to_async
def finish(message: Message, status: str, content: str, metadata: dict) -> tuple[str, str]:
    message.finish(status, content, **metadata)
    return chat_html.render_message(message, append=True), chat_html.render_message(message, oob=True)


async def settle(message: Message, session_id: int, result, metadata: dict) -> None:
    if result.error:
        metadata["error"] = result.error
    append, replace = await finish(message, result.status, result.content, metadata)
    await live().discard(message.pk)
    await notify.bubble_settled(session_id, message.pk, append, replace, len(message.content))


async def resolve(conversation: Conversation, role: str):
    return await llm.resolve(conversation.model_for(role))


def failed(exc: EngineError) -> StreamResult:
    return StreamResult("", Message.Status.FAILED, error=exc.message)


async def open_reply(conversation: Conversation, role: str, kind: str):
    """A streaming bubble for ``role`` and the engine to fill it: (message, client, model), or (message, None,
    None) when the engine cannot be reached, the bubble already settled as failed with what to do."""
    message = await start_streaming(conversation, role, kind)
    try:
        client, model = await resolve(conversation, role)
    except EngineError as exc:
        await settle(message, conversation.session_id, failed(exc), {})
        return message, None, None
    return message, client, model
