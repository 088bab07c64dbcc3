"""Pixel's brief, made usable whatever the model wrote: repaired and clamped by the render farm's rules,
completed from the conversation, and always about the artist's idea."""

import re

from generations.services.brief import SUMMARY_CHARS, BriefError, fit_to_family, parse
from generations.services.brief import normalize_brief as normalize
from generations.services.brief_spec import MAX_PROMPT_CHARS
from specialists.services.reply_text import SPEAKER_NAMES

# Words that say nothing about what is in the picture; the rest of the idea's words must reach the prompt.
STOPWORDS = frozenset(
    """a an the and or but of in on at to for with without from by into onto over under near about as is are
    was were be been being it its this that these those there here my your our their his her me you we they
    i he she them us some any very really just like make made want wants would could should can will
    image picture photo photograph render one two three all more most less few""".split()
)
_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
# Where a prompt turns into a copy of the conversation: anywhere, since prompts are comma-separated phrases.
_COPIED_SPEAKER = re.compile(
    rf"{SPEAKER_NAMES}(?:, the [^,\n]{{1,40}},)? said:|\[{SPEAKER_NAMES}\]\s*:|{SPEAKER_NAMES}'s brief:", re.IGNORECASE
)


def content_words(text: str) -> set[str]:
    return {_stem(word) for word in _WORD.findall(text.lower()) if word not in STOPWORDS}


def _stem(word: str) -> str:
    # Plurals count as the same word: "foxes" keeps "fox", "lanterns" keeps "lantern".
    for suffix in ("es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def keeps_the_idea(prompt: str, idea: str) -> bool:
    """At least half of the idea's words about the picture are in the prompt."""
    wanted = content_words(idea)
    return len(wanted & content_words(prompt)) * 2 >= len(wanted)


def _own_words(prompt: str) -> str:
    """A prompt up to where a small model began copying the conversation ("Luna, the style lead, said:")."""
    found = _COPIED_SPEAKER.search(prompt)
    return (prompt[: found.start()] if found else prompt).strip(" ,;:\n")


def usable_brief(raw, catalog, idea: str) -> tuple[dict, list[str]]:
    """The brief from what Pixel wrote; raises BriefError only when neither it nor the idea gives a prompt."""
    idea = " ".join(idea.split())
    try:
        data = parse(raw)
    except BriefError:
        data = {}
    notes: list[str] = []
    written = data.get("positive_prompt") or data.get("prompt")
    prompt = _own_words(written) if isinstance(written, str) else ""
    data.pop("prompt", None)
    if not prompt:
        if not idea:
            raise BriefError("the brief has no positive prompt")
        data["positive_prompt"] = idea
        notes.append("Pixel's brief came without a prompt, so it starts from your own words.")
    elif not keeps_the_idea(prompt, idea):
        data["positive_prompt"] = f"{idea}, {prompt}"[:MAX_PROMPT_CHARS]
        notes.append("Pixel's prompt had lost your subject, so your own words lead it.")
    else:
        data["positive_prompt"] = prompt
    if isinstance(data.get("negative_prompt"), str):
        data["negative_prompt"] = _own_words(data["negative_prompt"])
    brief, warnings = normalize(data, catalog)
    return fit_to_family(brief, catalog, warnings), notes + warnings


BRIEF_INVITATION = "Edit anything, then press Generate — or tell us what to change."


def summary_of(raw) -> str:
    """Pixel's summary of what the team agreed on, as the brief's own words ("" when it wrote none)."""
    try:
        written = parse(raw).get("summary")
    except BriefError:
        return ""
    if not isinstance(written, str):
        return ""
    text = " ".join(written.split())
    if len(text) > SUMMARY_CHARS:
        cut = text[:SUMMARY_CHARS]
        text = cut[: cut.rfind(". ") + 1] if ". " in cut else cut.rsplit(" ", 1)[0] + "…"
    return text


def brief_words(raw) -> str:
    """What Pixel's brief message says above its card: the agreed direction, then what the artist can do."""
    summary = summary_of(raw)
    return f"{summary}\n\n{BRIEF_INVITATION}" if summary else f"Here is the brief. {BRIEF_INVITATION}"
