"""Lens looks at a result and scores it; the auto-refine loop's revision and render steps.

Lens answers through the engine's structured mode (critique.review_schema) with the picture attached. A model
that cannot see gets no picture: Lens says so, and which installed model could.
"""

from asgiref.sync import sync_to_async

from specialists.models import Conversation, Message, Review, Role
from specialists.services import chat_html, critique, llm, notify, refine_loop, replying
from specialists.services.context import generation_image_bytes
from specialists.services.live import live
from specialists.services.open_decisions import said_by_artist
from specialists.services.reply_text import RUNAWAY_CHARS_PER_TOKEN, ReplyWatch
from specialists.services.streaming import StreamResult, stream_reply
from specialists.services.turns import Step

# A model to suggest when nothing installed can see: small, and its capabilities list "vision".
VISION_SUGGESTION = "qwen2.5vl:3b"
# The review's JSON is short, but a critic that lists a dozen elements needs more than a chat turn.
REVIEW_TOKENS = 700
UNREADABLE = (
    "Lens's review could not be read ({reason}). Press Try again, or give Lens another vision model in Settings."
)


async def tell(session_id: int, outcome: refine_loop.Outcome) -> None:
    """Show what a loop change put in the chat, in every browser of the session."""
    if outcome.card_id is not None:
        await notify.message_changed(session_id, outcome.card_id)
    if outcome.notice_id is not None:
        await notify.message_added(session_id, outcome.notice_id)


def tell_sync(session_id: int, outcome: refine_loop.Outcome) -> None:
    for message_id in (outcome.card_id, outcome.notice_id):
        if message_id is not None:
            notify.message_added_sync(session_id, message_id)


async def _stop_loop(conversation: Conversation, note: str) -> None:
    outcome = await sync_to_async(refine_loop.stop_for_failure)(conversation, note)
    await tell(conversation.session_id, outcome)


async def cannot_see(model: str, *, video: bool) -> str:
    """Lens's words when there is no picture it can look at: why, and what would let it see."""
    if video:
        return "This result is a video: I score pictures only, so have a look yourself and tell the team."
    installed, _ = await llm.list_models()
    seeing = [m.name for m in installed if getattr(m, "capabilities", None) and m.capabilities.vision]
    if seeing:
        return (
            f"I can't see pictures through {model}. {', '.join(seeing[:3])} can: choose one for Lens in the "
            "session's Settings, and I will score every result against what you asked for."
        )
    return (
        f"I can't see pictures through {model}, and no installed model can. Pull one that can "
        f"(`ollama pull {VISION_SUGGESTION}`), then choose it for Lens in the session's Settings."
    )


@sync_to_async
def _anchor(step: Step) -> Message:
    return Message.objects.select_related("generation").get(pk=step.anchor_id)


@sync_to_async
def _settle_review(message: Message, anchor: Message, result: StreamResult, meta: dict, found):
    """The bubble settles with its Review in one go, so the first drawing of the bubble already shows it."""
    message.finish(result.status, result.content, **meta)
    outcome = refine_loop.Outcome()
    if found is not None:
        review = Review.objects.create(
            message=message, generation=anchor.generation, score=found.score, fix=found.fix, elements=found.elements
        )
        outcome = refine_loop.after_review(message.conversation, review, anchor)
    return chat_html.render_message(message, append=True), chat_html.render_message(message, oob=True), outcome


async def review_result(conversation: Conversation, step: Step) -> None:
    session_id = conversation.session_id
    message, client, model = await replying.open_reply(conversation, Role.CRITIC, Message.Kind.REVIEW)
    if client is None:
        await _stop_loop(conversation, "Lens's model could not be reached")
        return
    caps = await llm.capabilities(client, model)
    anchor = await _anchor(step)
    image = await sync_to_async(generation_image_bytes)(anchor.generation_id) if anchor.generation_id else None
    meta = {"model": model, "backend": client.backend}
    if not caps.vision or image is None:
        text = await cannot_see(model, video=image is None and caps.vision)
        await replying.settle(message, session_id, StreamResult(text, Message.Status.COMPLETE), meta)
        await _stop_loop(conversation, "Lens cannot see this result")
        return
    options = {**replying.options(Role.CRITIC, caps), "temperature": 0.2}
    options["num_predict"] = options["num_predict"] - replying.CHAT_REPLY_TOKENS + REVIEW_TOKENS
    cue = critique.review_cue(await sync_to_async(said_by_artist)(conversation))
    history = await replying.history(conversation, Role.CRITIC, client, caps, cue=cue, images=[image])
    chunks = client.stream_chat(
        model, history, format=critique.review_schema(), options=options, think=replying.think(client, model, caps)
    )
    watch = ReplyWatch(max_chars=options["num_predict"] * RUNAWAY_CHARS_PER_TOKEN, max_sentences=None, loops=False)
    result = await stream_reply(
        message, session_id, conversation.pk, step.anchor_id, chunks, broadcast_tokens=False, watch=watch
    )
    meta = {**replying.reply_meta(model, client, result), "raw": result.content[:20000], "saw_image": True}
    found = None
    if result.status == Message.Status.COMPLETE:
        try:
            found = critique.parse_review(result.content)
        except critique.CritiqueError as exc:
            result.status, result.error = Message.Status.FAILED, UNREADABLE.format(reason=exc)
        else:
            result.content = found.comment or f"{found.score}/10."
    if result.error:
        meta["error"] = result.error
    append, replace, outcome = await _settle_review(message, anchor, result, meta, found)
    await live().discard(message.pk)
    await notify.bubble_settled(session_id, message.pk, append, replace, len(message.content))
    await tell(session_id, outcome)
    if found is None:
        await _stop_loop(conversation, "Lens's review could not be used")


@sync_to_async
def _revision_cue(conversation: Conversation) -> str:
    loop = refine_loop.open_loop(conversation)
    base = loop.base if loop is not None else None
    return critique.revision_cue(base) if base is not None else critique.REVISE_WITHOUT_REVIEW


async def revision_cue_for(conversation: Conversation) -> str:
    return await _revision_cue(conversation)


@sync_to_async
def _turns_brief(step: Step) -> Message:
    """Pixel's revised brief: the newest one after the turn's anchor."""
    anchor = Message.objects.select_related("conversation").get(pk=step.anchor_id)
    briefs = anchor.conversation.messages.filter(kind=Message.Kind.BRIEF, status=Message.Status.COMPLETE)
    return briefs.filter(order__gt=anchor.order).order_by("-order").first()


async def render_attempt(conversation: Conversation, step: Step) -> None:
    brief = await _turns_brief(step)
    outcome = await sync_to_async(refine_loop.render)(conversation, brief)
    await tell(conversation.session_id, outcome)
    await notify.phase_changed(conversation.pk)
