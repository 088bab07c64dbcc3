"""The conversation history each specialist sees.

Each specialist hears the artist and the teammates as the conversation around it, in prose ("Luna, the
style lead, said: “…”"), and its own earlier words as "assistant". No turn starts with a "Name:" label:
small models copy such a script and speak as someone else. Long histories keep the most recent part,
within what the model's context holds.
"""

import base64

from generations.models import MediaKind, MediaOutput
from specialists.models import Conversation, Message, Role
from specialists.personas import PERSONAS
from specialists.services.phases import plan_for

HISTORY_CHAR_BUDGET = 6000
# Characters per token, on the safe side for English prompts; and the most history worth sending at all.
CHARS_PER_TOKEN = 3
MAX_HISTORY_CHARS = 24000
# Kept free in the model's context for the persona, the phase's instruction and the reply.
CONTEXT_RESERVE_TOKENS = 900


def history_budget(context_length: int | None, reply_tokens: int) -> int:
    """How many characters of history fit the model's context next to the system prompt and the reply."""
    if not context_length:
        return HISTORY_CHAR_BUDGET
    room = (context_length - reply_tokens - CONTEXT_RESERVE_TOKENS) * CHARS_PER_TOKEN
    return max(1000, min(MAX_HISTORY_CHARS, room))


def describe_brief(brief: dict) -> str:
    return (
        f"positive prompt: {brief.get('positive_prompt', '')}\n"
        f"negative prompt: {brief.get('negative_prompt', '')}\n"
        f"{brief.get('media_kind', 'image')} {brief.get('width')}x{brief.get('height')}, {brief.get('steps')} steps, "
        f"cfg {brief.get('cfg')}, {brief.get('sampler')}/{brief.get('scheduler')}, "
        f"checkpoint {brief.get('checkpoint')}, seed {brief.get('seed')}"
    )


def _text_of(message: Message) -> str:
    if message.kind == Message.Kind.BRIEF:
        return "My brief:\n" + describe_brief(message.brief or {})
    if message.kind == Message.Kind.GENERATION:
        return f"(The studio generated from the brief: generation #{message.generation_id}.)"
    return message.content.strip()


def _said(who: str, text: str) -> str:
    return f"{who} said: “{text}”"


def _turns(conversation: Conversation, speaker: str, budget: int = HISTORY_CHAR_BUDGET) -> list[dict]:
    turns: list[dict] = []
    for message in conversation.messages.order_by("order"):
        if message.status in (Message.Status.FAILED, Message.Status.STREAMING) or message.superseded_by_id:
            continue
        text = _text_of(message)
        if not text:
            continue
        if message.role == Role.SYSTEM:
            if message.kind in (Message.Kind.GENERATION, Message.Kind.RESULT):
                turns.append({"role": "user", "content": f"(From the studio: {text})"})
            continue
        if message.role == Role.USER:
            turns.append({"role": "user", "content": _said("The artist", text)})
        elif message.role == speaker:
            turns.append({"role": "assistant", "content": text})
        else:
            persona = PERSONAS[message.role]
            if message.kind == Message.Kind.BRIEF:
                text = "Pixel's brief:\n" + describe_brief(message.brief or {})
            turns.append({"role": "user", "content": _said(f"{persona.name}, the {persona.title},", text)})
    # Keep the most recent history within budget, always keeping the artist's first idea (its start, at most
    # half the budget: an idea pasted at length must not push the model's context over).
    if not turns:
        return []
    first = dict(turns[0])
    if len(first["content"]) > budget // 2:
        first["content"] = first["content"][: budget // 2].rstrip() + "…"
    kept: list[dict] = []
    used = len(first["content"])
    for turn in reversed(turns[1:]):
        used += len(turn["content"])
        if used > budget:
            break
        kept.append(turn)
    return [first, *reversed(kept)]


def _merge_same_role(turns: list[dict]) -> list[dict]:
    merged: list[dict] = []
    for turn in turns:
        if merged and merged[-1]["role"] == turn["role"] and "images" not in turn:
            merged[-1] = {**merged[-1], "content": merged[-1]["content"] + "\n\n" + turn["content"]}
        else:
            merged.append(dict(turn))
    return merged


def _transcript(turns: list[dict], speaker: str) -> str:
    lines = []
    for turn in turns:
        text = turn["content"]
        lines.append(_said("You", text) if turn["role"] == "assistant" else text)
    return "\n".join(lines)


def build_messages(
    conversation: Conversation,
    speaker: str,
    *,
    cue: str = "",
    images: list[bytes] = (),
    compact: bool = False,
    history_chars: int = HISTORY_CHAR_BUDGET,
) -> list[dict]:
    """The chat for ``speaker``. ``compact`` folds the history into one user turn, which tiny models follow better."""
    persona = PERSONAS[speaker]
    plan = plan_for(conversation.phase, conversation.session.settings)
    system = f"{persona.system_prompt}\n\nCurrent phase — {plan.instruction}"
    turns = _turns(conversation, speaker, history_chars)
    if compact:
        ask = cue or (
            f"Now answer in your own voice, as the team's {persona.title}, in 2 to 4 sentences. "
            "Start with your words themselves: no name or label in front."
        )
        return [
            {"role": "system", "content": system},
            {"role": "user", "content": f"The conversation so far:\n{_transcript(turns, speaker)}\n\n{ask}"},
        ]
    final = {
        "role": "user",
        "content": cue or f"{persona.name}, it is your turn: answer in your own voice, without a name in front.",
    }
    if images:
        final["images"] = [base64.b64encode(data).decode("ascii") for data in images]
    return [{"role": "system", "content": system}, *_merge_same_role(turns + [final])]


# A picture larger than this is not sent to a vision model (base64 in the request, and slow to read).
IMAGE_MAX_BYTES = 8_000_000


def generation_image_bytes(generation_id: int, *, max_bytes: int = IMAGE_MAX_BYTES) -> bytes | None:
    """A generation's first picture, for a vision model to look at; None for a video or a missing file."""
    output = MediaOutput.objects.filter(generation_id=generation_id, kind=MediaKind.IMAGE).order_by("pk").first()
    return _read(output, max_bytes)


def _read(output, max_bytes: int) -> bytes | None:
    if output is None or output.size_bytes > max_bytes:
        return None
    try:
        with output.file.open("rb") as handle:
            return handle.read()
    except OSError:
        return None  # the file was removed from the media folder


def latest_image_bytes(conversation_id: int, *, max_bytes: int = IMAGE_MAX_BYTES) -> bytes | None:
    """The newest generated image of a conversation, for a vision model to look at."""
    output = (
        MediaOutput.objects.filter(generation__chat_messages__conversation_id=conversation_id, kind=MediaKind.IMAGE)
        .order_by("-created_at", "-pk")
        .first()
    )
    return _read(output, max_bytes)
