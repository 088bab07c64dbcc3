"""What is kept of a reply the engine cut at its token limit: it ends at a sentence, never mid-word."""

import re

# A sentence ends at . ! ? or … (closing quotes and brackets may follow) before a space or the end.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s|$)")
# Below this share of the text, a cut at the last sentence would throw away too much: cut at a word instead.
MIN_KEPT_SHARE = 0.25


def end_at_sentence(text: str) -> str:
    text = text.rstrip()
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    if ends and ends[-1] == len(text):
        return text
    if ends and ends[-1] >= len(text) * MIN_KEPT_SHARE:
        return text[: ends[-1]]
    words = text.rsplit(None, 1)
    kept = words[0] if len(words) == 2 else text
    return kept.rstrip(",;:—–- ") + "…"


# The personas answer in 2 to 4 sentences: a reply is stopped after this many.
MAX_SENTENCES = 4
# Characters per token beyond which a reply has certainly overrun its token budget.
RUNAWAY_CHARS_PER_TOKEN = 8
# A run of this many words or more, said three times in a row, is a model stuck in a loop.
LOOP_MIN_WORDS, LOOP_MAX_WORDS = 3, 16
LOOP_WORD_CHARS = 24
_LABEL = re.compile(
    r"^\s*(?:\*\*)?\[?(?:Luna|Frame|Saga|Pixel|Lens|Artist|The artist|Studio|You)(?:'s)?\]?(?:\*\*)?"
    r"(?:\s*\([^)]{0,40}\))?(?:, the [^,:\n]{1,40},?)?(?:\s+said)?\s*[:：]\s*",
    re.IGNORECASE,
)
_WORDS = re.compile(r"\S+")
# A reply that goes on as someone else (a small model continuing the conversation it was shown): a new line or
# sentence that opens with a teammate's or the artist's name as a speaker.
SPEAKER_NAMES = r"(?:Luna|Frame|Saga|Pixel|Lens|Artist|The artist|Studio)"
_NAMES = SPEAKER_NAMES
ANOTHER_VOICE = re.compile(
    rf"(?:^|\n|(?<=[.!?…\"”])\s+)\s*(?:\[{_NAMES}\]\s*:|{_NAMES}\s*:|{_NAMES}(?:, the [^,\n]{{1,40}},)? said:)",
    re.IGNORECASE,
)
# Enough of a reply's end to find a new speaker that the last chunk completed.
VOICE_TAIL_CHARS = 120
# A sentence end the reply has moved past (whitespace follows): counted once, when that whitespace arrives.
_PASSED_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)")


def without_speaker_label(text: str) -> str:
    """A reply that starts by naming a speaker ("[Luna]: …", "Frame's: …") starts with its words instead."""
    while (found := _LABEL.match(text)) and found.end() < len(text):
        text = text[found.end() :]
    return text


def loop_start(text: str) -> int | None:
    """Where a reply began repeating itself (the end of the first of three runs), or None."""
    # Only the end can be looping: look at enough of it for three of the longest runs (it runs per token).
    start = max(0, len(text) - 3 * LOOP_MAX_WORDS * LOOP_WORD_CHARS)
    words = list(_WORDS.finditer(text, start))
    for size in range(LOOP_MIN_WORDS, min(LOOP_MAX_WORDS, len(words) // 3) + 1):
        tail = [w.group().lower().strip(",.;:!?") for w in words[-3 * size :]]
        if tail[:size] == tail[size : 2 * size] == tail[2 * size :]:
            return words[-2 * size].start()
    return None


class ReplyWatch:
    """Fed a reply as it streams; says when to stop it: enough sentences, a loop, or far more text than its
    token budget allows (an engine that ignores the limit would otherwise stream for ever)."""

    def __init__(self, *, max_chars: int, max_sentences: int | None = MAX_SENTENCES, loops: bool = True):
        self.max_sentences, self.max_chars, self.loops = max_sentences, max_chars, loops
        self.text = ""
        self.sentences = 0
        self.reason = ""

    def feed(self, chunk: str) -> bool:
        """True when the reply should stop here."""
        before = len(self.text)
        self.text += chunk
        if self.max_sentences:
            # The sentence ends this chunk completed: their following whitespace is new.
            found = _PASSED_END.finditer(self.text, max(0, before - 8))
            self.sentences += sum(1 for m in found if m.end() >= before)
        if self.loops and self._another_voice(before) is not None:
            self.reason = "another voice"
        elif self.max_sentences and self.sentences >= self.max_sentences:
            self.reason = "sentences"
        elif self.loops and any(c.isspace() for c in chunk) and loop_start(self.text) is not None:
            self.reason = "repetition"
        elif len(self.text) > self.max_chars:
            self.reason = "length"
        return bool(self.reason)

    def _another_voice(self, before: int) -> int | None:
        found = ANOTHER_VOICE.search(self.text, max(0, before - VOICE_TAIL_CHARS))
        return found.start() if found is not None and found.start() > 0 else None

    def kept(self) -> str:
        """The reply as it should stand: up to its last whole sentence, without a loop or another's words."""
        text = self.text
        if self.reason == "another voice":
            text = text[: ANOTHER_VOICE.search(text).start()].rstrip()
        elif self.reason == "repetition":
            text = text[: loop_start(text)].rstrip(" ,;:—–-")
        elif self.reason == "sentences":
            ends = [m.end() for m in _SENTENCE_END.finditer(text)]
            text = text[: ends[self.max_sentences - 1]] if len(ends) >= self.max_sentences else text
        elif self.reason == "length" and not self.max_sentences:
            return text  # structured output: its parser repairs what was cut
        return end_at_sentence(text) if self.reason else text
