"""Carry out the team's next steps: who speaks, the brief, phase changes."""

import asyncio
import logging

from asgiref.sync import sync_to_async
from django.conf import settings

from generations.services import families
from generations.services.brief import BriefError, brief_schema
from generations.services.catalog import get_catalog
from specialists.models import Actor, Conversation, Message, Phase, Role
from specialists.personas import PERSONAS
from specialists.services import clarifying, gpu_handoff, llm, notify, reply_requests, replying, reviewing
from specialists.services.brief_draft import brief_words, usable_brief
from specialists.services.context import latest_image_bytes
from specialists.services.reply_text import (
    RUNAWAY_CHARS_PER_TOKEN,
    ReplyWatch,
    end_at_sentence,
    without_speaker_label,
)
from specialists.services.streaming import StreamResult, stream_reply
from specialists.services.turns import Step, latest_brief
from studio.errors import EngineError

log = logging.getLogger(__name__)

PHASE_NOTICES = {
    Phase.IDEATION: "Ideation — the team explores directions.",
    Phase.REFINEMENT: "Refinement — the team converges on one direction.",
    Phase.SYNTHESIS: "Synthesis — Pixel drafts the generation brief.",
    Phase.REVIEW: "Review — Lens checks the brief. Edit it, or press Generate when it looks right.",
    Phase.GENERATING: "Generating — ComfyUI is rendering.",
    Phase.COMPLETE: "Complete — the result is in.",
}


def _ended_at_the_limit(result: StreamResult) -> bool:
    """A reply the engine cut at its token limit ends at a sentence, marked as cut."""
    if result.status != Message.Status.COMPLETE or result.stats.get("done_reason") != "length":
        return False
    result.content = end_at_sentence(result.content)
    return True


@sync_to_async
def _idea_of(conversation: Conversation) -> str:
    """The artist's first words in the conversation: what every brief must be about."""
    first = conversation.messages.filter(role=Role.USER).order_by("order").first()
    return first.content if first is not None else ""


async def _result_images(conversation: Conversation) -> list[bytes]:
    data = await sync_to_async(latest_image_bytes)(conversation.pk)
    return [data] if data else []


async def speak(conversation: Conversation, step: Step, *, cue: str = "") -> None:
    """Each pending speaker replies; independent speakers may stream at the same time."""
    session_id = conversation.session_id

    async def start(role: str) -> Message:
        return await replying.start_streaming(conversation, role, Message.Kind.CHAT)

    async def reply(message: Message) -> str:
        role = message.role
        try:
            client, model = await replying.resolve(conversation, role)
        except EngineError as exc:
            await replying.settle(message, session_id, replying.failed(exc), {})
            return Message.Status.FAILED
        caps = await llm.capabilities(client, model)
        images = []
        if conversation.phase == Phase.COMPLETE and role == Role.CRITIC and caps.vision:
            images = await _result_images(conversation)
        options, think = replying.options(role, caps), replying.think(client, model, caps)
        history = await replying.history(conversation, role, client, caps, images=images, cue=cue)
        chunks = client.stream_chat(model, history, options=options, think=think)
        watch = ReplyWatch(max_chars=options["num_predict"] * RUNAWAY_CHARS_PER_TOKEN)
        result = await stream_reply(message, session_id, conversation.pk, step.anchor_id, chunks, watch=watch)
        if result.status == Message.Status.COMPLETE:
            result.content = without_speaker_label(result.content)
        meta = {**replying.reply_meta(model, client, result), "saw_image": bool(images)}
        if _ended_at_the_limit(result):
            meta["cut"] = True
        await replying.settle(message, session_id, result, meta)
        return result.status

    concurrent = step.independent and conversation.session.settings.get("concurrent", settings.STUDIO_CONCURRENT_ROUNDS)
    if concurrent and len(step.speakers) > 1:
        messages = [await start(role) for role in step.speakers]
        await asyncio.gather(*(reply(m) for m in messages))
        return
    for role in step.speakers:
        if await reply(await start(role)) != Message.Status.COMPLETE:
            return  # an interjection opens a new turn; a failure waits for "try again"


BRIEF_CUE = (
    "Pixel, write the generation brief for everything the team and the artist agreed on, as JSON that "
    "follows the schema. The positive prompt is a rich, comma-separated Stable Diffusion prompt. Choose the "
    "aspect that suits the picture, a style preset only if one fits, and LoRAs only if the team asked for them."
)


async def draft_brief(conversation: Conversation, step: Step, *, cue: str = BRIEF_CUE) -> None:
    """Pixel writes the brief through the engine's JSON-schema mode; it appears as an editable card."""
    session_id = conversation.session_id
    message, client, model = await replying.open_reply(conversation, Role.TECHNICAL, Message.Kind.DRAFTING)
    if client is None:
        return
    catalog = await sync_to_async(_owners_catalog)(conversation)
    earlier = await _live_brief(conversation)  # a revised brief keeps to its model's family sizes
    caps = await llm.capabilities(client, model)
    options, think = replying.options(Role.TECHNICAL, caps), replying.think(client, model, caps)
    history = await replying.history(conversation, Role.TECHNICAL, client, caps, cue=cue)
    schema = brief_schema(
        catalog,
        max_tokens=replying.reply_tokens(Role.TECHNICAL),
        model=(earlier.brief or {}).get("checkpoint") if earlier else None,
    )
    chunks = client.stream_chat(model, history, format=schema, options=options, think=think)
    watch = ReplyWatch(max_chars=options["num_predict"] * RUNAWAY_CHARS_PER_TOKEN, max_sentences=None, loops=False)
    result = await stream_reply(
        message, session_id, conversation.pk, step.anchor_id, chunks, broadcast_tokens=False, watch=watch
    )
    meta = {**replying.reply_meta(model, client, result), "raw": result.content[:20000]}
    if result.status == Message.Status.COMPLETE:
        try:
            brief, warnings = usable_brief(result.content, catalog, await _idea_of(conversation))
        except BriefError as exc:
            result.status = Message.Status.FAILED
            result.error = f"Pixel could not turn the discussion into a usable brief ({exc}). Try again."
        else:
            meta.update(kind=Message.Kind.BRIEF, brief=brief, warnings=warnings)
            if earlier is not None:
                meta["revises"] = earlier.pk  # its card shows what changed
            result.content = brief_words(result.content)
    await replying.settle(message, session_id, result, meta)
    if earlier is not None and meta.get("kind") == Message.Kind.BRIEF:
        await notify.message_changed(session_id, earlier.pk)  # it folds away: this one is live now


def _owners_catalog(conversation: Conversation):
    return families.for_owner(get_catalog(), conversation.session.owner_id)


@sync_to_async
def _live_brief(conversation: Conversation) -> Message | None:
    return latest_brief(conversation)


@sync_to_async
def _enter_phase(conversation: Conversation, phase: str, by: str) -> Message | None:
    if not conversation.move_to(phase, by=by):
        return None
    # Entering a phase opens a turn for its speakers, except where the artist drives.
    opens_turn = phase not in (Phase.GENERATING, Phase.COMPLETE)
    return conversation.append_message(
        Role.SYSTEM, PHASE_NOTICES[phase], kind=Message.Kind.NOTICE, opens_turn=opens_turn, metadata={"phase": phase}
    )


async def enter_phase(conversation: Conversation, phase: str, *, by: str) -> Message | None:
    """Move through the conversation's transition table; the notice that opens the phase, or None."""
    notice = await _enter_phase(conversation, phase, by)
    if notice is not None:
        await notify.message_added(conversation.session_id, notice.pk)
    await notify.phase_changed(conversation.pk)
    return notice


BUILT_IN_NOTICE = "built_in_model"


@sync_to_async
def _announce_built_in_model(conversation: Conversation) -> Message | None:
    if conversation.messages.filter(kind=Message.Kind.NOTICE, metadata__announces=BUILT_IN_NOTICE).exists():
        return None
    return conversation.append_message(
        Role.SYSTEM, llm.built_in_model_notice(), kind=Message.Kind.NOTICE, metadata={"announces": BUILT_IN_NOTICE}
    )


async def _say_when_the_built_in_model_speaks(conversation: Conversation, step: Step) -> None:
    """Once per conversation: a weak model presented as the team would read as a weak team."""
    try:
        client, _ = await replying.resolve(conversation, step.speakers[0])
    except EngineError:
        return  # the reply itself says what is wrong
    if client.backend == "embedded" and (notice := await _announce_built_in_model(conversation)) is not None:
        await notify.message_added(conversation.session_id, notice.pk)


async def execute(conversation: Conversation, step: Step) -> None:
    if step.kind in ("ask", "speak", "go_on", "brief", "review", "revise"):
        await _say_when_the_built_in_model_speaks(conversation, step)
        await gpu_handoff.before_turn(conversation)
    if step.kind == "ask":
        await clarifying.ask(conversation, step)
    elif step.kind == "speak":
        await speak(conversation, step)
    elif step.kind == "go_on":
        await speak(conversation, step, cue=await sync_to_async(reply_requests.go_on_cue)(conversation, step.anchor_id))
    elif step.kind == "brief":
        await draft_brief(conversation, step)
    elif step.kind == "review":
        await reviewing.review_result(conversation, step)
    elif step.kind == "revise":
        await draft_brief(conversation, step, cue=await reviewing.revision_cue_for(conversation))
    elif step.kind == "render":
        await reviewing.render_attempt(conversation, step)
    elif step.kind == "advance":
        await enter_phase(conversation, step.to_phase, by=Actor.TEAM)
    else:  # pragma: no cover - Step kinds are fixed
        raise ValueError(step.kind)


def persona_name(role: str) -> str:
    return PERSONAS[role].name if role in PERSONAS else "Studio"
