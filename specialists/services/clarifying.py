"""The clarifying question itself: the specialist whose field it is asks it, in its own words when it can."""

from asgiref.sync import sync_to_async

from specialists.models import Conversation, Message
from specialists.services import llm, replying
from specialists.services.open_decisions import SUBJECT, OpenDecision, open_decision, said_by_artist
from specialists.services.reply_text import RUNAWAY_CHARS_PER_TOKEN, ReplyWatch, without_speaker_label
from specialists.services.streaming import stream_reply
from studio.errors import EngineError


def _usable_question(text: str) -> bool:
    text = text.strip()
    return 8 <= len(text) <= 240 and text.endswith("?") and text.count("?") <= 2


@sync_to_async
def _decision(conversation_id: int) -> OpenDecision:
    return open_decision(said_by_artist(Conversation.objects.get(pk=conversation_id))) or SUBJECT


async def ask(conversation: Conversation, step) -> None:
    """The specialist asks the artist one short question, in its own words when the model manages one."""
    decision = await _decision(conversation.pk)
    role = step.speakers[0]
    message = await replying.start_streaming(conversation, role, Message.Kind.QUESTION)
    try:
        client, model = await replying.resolve(conversation, role)
    except EngineError as exc:
        await replying.settle(message, conversation.session_id, replying.failed(exc), {})
        return
    caps = await llm.capabilities(client, model)
    cue = (
        f"Before the team starts, ask the artist one short question about the picture's {decision.topic}, such as: "
        f"“{decision.question}” One sentence that ends with a question mark; nothing else."
    )
    options = replying.options(role, caps)
    history = await replying.history(conversation, role, client, caps, cue=cue)
    chunks = client.stream_chat(model, history, options=options, think=replying.think(client, model, caps))
    watch = ReplyWatch(max_chars=options["num_predict"] * RUNAWAY_CHARS_PER_TOKEN)
    result = await stream_reply(message, conversation.session_id, conversation.pk, step.anchor_id, chunks, watch=watch)
    if result.status == Message.Status.COMPLETE:
        own = without_speaker_label(result.content)
        result.content = own if _usable_question(own) else decision.question
    await replying.settle(message, conversation.session_id, result, replying.reply_meta(model, client, result))
