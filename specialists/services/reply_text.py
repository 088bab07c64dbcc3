"""What is kept of a reply the engine cut at its token limit: it ends at a sentence, never mid-word."""

import re

# A sentence ends at . ! ? or … (closing quotes and brackets may follow) before a space or the end.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s|$)")
# Below this share of the text, a cut at the last sentence would throw away too much: cut at a word instead.
MIN_KEPT_SHARE = 0.4


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
