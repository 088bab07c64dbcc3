"""A fake vision critic and a fake Pixel that follows it: a `responder` for the fake Ollama.

The critic scores a picture by which of the artist's elements its prompt carries. It reads that prompt where a
real ComfyUI puts it, in the PNG's "prompt" text chunk, and the artist's words from the review cue. Pixel's
first brief carries only the first elements of the idea (as a model that skims would); a revision adds up to
``adds_per_revision`` of the elements Lens listed as lacking, except those it `cannot_draw`.
"""

from __future__ import annotations

import base64
import io
import json
import re

from PIL import Image

from tests.fakes.ollama import _schema_of, _text_of, default_responder, instance_of

_ARTIST_WORDS = re.compile(r"The artist's words: “(.*?)”", re.S)
_ARTIST_SAID = re.compile(r"The artist said: “(.*?)”", re.S)
_LACKING = re.compile(r"Elements it lacks: (.*?)\. Lens's most important fix", re.S)
_USED = re.compile(r"That attempt's positive prompt was: (.*?)\. Elements it lacks", re.S)
_WORD = re.compile(r"[a-z]{3,}")


def elements_of(idea: str) -> list[str]:
    """The artist's elements: the comma-separated parts of the idea."""
    return [" ".join(part.split()) for part in idea.split(",") if part.strip()]


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def verdict(element: str, prompt: str) -> str:
    wanted, carried = _words(element), _words(prompt)
    found = len(wanted & carried)
    if wanted and found == len(wanted):
        return "present"
    return "partly" if found else "missing"


def prompt_in_picture(body: dict) -> str:
    """Every text input of the graph embedded in the attached PNG ("" when there is none)."""
    for message in body.get("messages") or []:
        for data in message.get("images") or []:
            try:
                graph = json.loads(Image.open(io.BytesIO(base64.b64decode(data))).text.get("prompt", "{}"))
            except (ValueError, OSError):
                return ""
            texts = [
                value
                for node in graph.values()
                for name, value in (node.get("inputs") or {}).items()
                if isinstance(value, str) and name in ("text", "prompt")
            ]
            return " ".join(texts)
    return ""


def _last_user(body: dict) -> str:
    messages = body.get("messages") or []
    return next((_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")


def _all_text(body: dict) -> str:
    return "\n".join(_text_of(m.get("content")) for m in body.get("messages") or [])


def review(body: dict) -> str:
    asked = _ARTIST_WORDS.search(_all_text(body))
    elements = elements_of(asked.group(1)) if asked else []
    prompt = prompt_in_picture(body)
    rows = [{"name": e, "aspect": "subject", "verdict": verdict(e, prompt)} for e in elements] or [
        {"name": "the idea", "aspect": "subject", "verdict": "partly"}
    ]
    points = sum({"present": 2, "partly": 1}.get(r["verdict"], 0) for r in rows)
    score = round(10 * points / (2 * len(rows)))
    lacking = [r["name"] for r in rows if r["verdict"] != "present"]
    return json.dumps(
        {
            "elements": rows,
            "score": score,
            "fix": f"Show {lacking[0]}." if lacking else "",
            "comment": f"I see {len(rows) - len(lacking)} of the {len(rows)} things you asked for.",
        }
    )


class TeamResponder:
    """The fake Ollama's `responder` for the auto-refine loop; everything else as the default responder."""

    def __init__(
        self, *, first_elements: int | None = None, adds_per_revision: int = 2, cannot_draw: tuple[str, ...] = ()
    ):
        # None: the fewest first elements that still carry 60% of the idea's words (a brief that loses the
        # subject is mended by the studio from the idea itself, which would leave the critic nothing to find).
        self.first_elements = first_elements
        self.adds_per_revision = adds_per_revision
        self.cannot_draw = tuple(word.lower() for word in cannot_draw)

    def __call__(self, body: dict) -> str:
        schema = _schema_of(body)
        properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
        if "score" in properties and "elements" in properties:
            return review(body)
        if "positive_prompt" in properties:
            return self._brief(body, schema)
        return default_responder(body)

    def _idea(self, body: dict) -> str:
        said = _ARTIST_SAID.search(_all_text(body))
        return said.group(1) if said else ""

    def _brief(self, body: dict, schema: dict) -> str:
        brief = instance_of(schema)
        cue = _last_user(body)
        lacking, used = _LACKING.search(cue), _USED.search(cue)
        if lacking and used:
            names = [re.sub(r" \((missing|partly)\)$", "", part.strip()) for part in lacking.group(1).split(";")]
            drawable = [n for n in names if not any(word in n.lower() for word in self.cannot_draw)]
            prompt = ", ".join([used.group(1), *drawable[: self.adds_per_revision]])
        else:
            elements = elements_of(self._idea(body))
            prompt = ", ".join(elements[: self._first_count(elements)]) or "a picture"
        brief["positive_prompt"] = prompt
        return json.dumps(brief)

    def _first_count(self, elements: list[str]) -> int:
        if self.first_elements is not None:
            return self.first_elements
        wanted = _words(" ".join(elements))
        for count in range(1, len(elements) + 1):
            if len(_words(" ".join(elements[:count])) & wanted) >= 0.6 * len(wanted):
                return count
        return len(elements)
