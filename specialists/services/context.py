"""The conversation history each specialist sees.

Each specialist hears the artist as "user", its own earlier words as
"assistant", and teammates' words quoted with their names, so small local
models keep track of who said what. Long histories keep the most recent part.
"""

import base64

from generations.models import MediaKind, MediaOutput
from specialists.models import Conversation, Message, Role
from specialists.personas import PERSONAS
from specialists.services.phases import plan_for

HISTORY_CHAR_BUDGET = 6000
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


def _turns(conversation: Conversation, speaker: str) -> list[dict]:
    turns: list[dict] = []
    for message in conversation.messages.order_by("order"):
        if message.status == Message.Status.FAILED or message.status == Message.Status.STREAMING:
            continue
        text = _text_of(message)
        if not text:
            continue
        if message.role == Role.SYSTEM:
            if message.kind in (Message.Kind.GENERATION, Message.Kind.RESULT):
                turns.append({"role": "user", "content": f"[Studio]: {text}"})
            continue
        if message.role == Role.USER:
            turns.append({"role": "user", "content": f"[Artist]: {text}"})
        elif message.role == speaker:
            turns.append({"role": "assistant", "content": text})
        else:
            name = PERSONAS[message.role].name
            if message.kind == Message.Kind.BRIEF:
                text = "Pixel's brief:\n" + describe_brief(message.brief or {})
            turns.append({"role": "user", "content": f"[{name}]: {text}"})
    # Keep the most recent history within budget, always keeping the artist's first idea.
    kept: list[dict] = []
    used = 0
    for turn in reversed(turns[1:]):
        used += len(turn["content"])
        if used > HISTORY_CHAR_BUDGET:
            break
        kept.append(turn)
    return turns[:1] + list(reversed(kept))


def _merge_same_role(turns: list[dict]) -> list[dict]:
    merged: list[dict] = []
    for turn in turns:
        if merged and merged[-1]["role"] == turn["role"] and "images" not in turn:
            merged[-1] = {**merged[-1], "content": merged[-1]["content"] + "\n\n" + turn["content"]}
        else:
            merged.append(dict(turn))
    return merged


def _transcript(turns: list[dict], speaker: str) -> str:
    name = PERSONAS[speaker].name
    lines = []
    for turn in turns:
        text = turn["content"]
        lines.append(f"[{name}]: {text}" if turn["role"] == "assistant" else text)
    return "\n".join(lines)


def build_messages(
    conversation: Conversation, speaker: str, *, cue: str = "", images: list[bytes] = (), compact: bool = False
) -> list[dict]:
    """The chat for ``speaker``. ``compact`` folds the history into one user turn, which tiny models follow better."""
    persona = PERSONAS[speaker]
    plan = plan_for(conversation.phase, conversation.session.settings)
    system = f"{persona.system_prompt}\n\nCurrent phase — {plan.instruction}"
    turns = _turns(conversation, speaker)
    if compact:
        ask = cue or f"Write {persona.name}'s reply now, as {persona.name}, about {persona.title} matters only."
        return [
            {"role": "system", "content": system},
            {"role": "user", "content": f"The conversation so far:\n{_transcript(turns, speaker)}\n\n{ask}"},
        ]
    final = {"role": "user", "content": cue or f"{persona.name}, it is your turn. Reply as {persona.name} only."}
    if images:
        final["images"] = [base64.b64encode(data).decode("ascii") for data in images]
    return [{"role": "system", "content": system}, *_merge_same_role(turns + [final])]


def latest_image_bytes(conversation_id: int, *, max_bytes: int = 8_000_000) -> bytes | None:
    """The newest generated image of a conversation, for a vision model to look at."""
    output = (
        MediaOutput.objects.filter(generation__chat_messages__conversation_id=conversation_id, kind=MediaKind.IMAGE)
        .order_by("-created_at", "-pk")
        .first()
    )
    if output is None or output.size_bytes > max_bytes:
        return None
    with output.file.open("rb") as handle:
        return handle.read()
