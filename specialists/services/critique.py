"""Lens's review of a result as structured output: the schema it answers, the cue, and reading the answer.

The shape follows the critics that measurably improve images (T2I-Copilot, Idea2Img): the elements the
artist asked for, each present / partly / missing; one score out of 10; the single most important fix.
"""

import json
from dataclasses import dataclass

from specialists.models import Review

SCORE_MAX = 10
MAX_ELEMENTS = 12
ASPECTS = ("subject", "setting", "style", "composition", "lighting", "mood")
TEXT_LIMITS = {"name": 120, "fix": 400, "comment": 1200}

REVIEW_CUE = (
    "Lens, look at the attached result. List each element the artist asked for (subjects, setting, style, "
    "composition, lighting, mood — from the brief and the conversation), and say whether the picture shows it: "
    "present, partly or missing. Score the result from 0 to 10 for how well it realises what was asked, name "
    "the single most important fix, and add a short comment for the artist. Answer as JSON that follows the "
    "schema. The artist's words: “{said}”"
)
ARTIST_WORDS_CHARS = 1500


def review_cue(said: str) -> str:
    """The cue, with the artist's own words: what every element is checked against."""
    said = " ".join(said.split())
    return REVIEW_CUE.format(said=said[:ARTIST_WORDS_CHARS])


class CritiqueError(ValueError):
    """Lens's answer cannot be used as a review; the message says what was wrong with it."""


@dataclass(frozen=True)
class Critique:
    score: int
    fix: str
    comment: str
    elements: list[dict]


def review_schema() -> dict:
    return {
        "type": "object",
        "properties": {
            "elements": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_ELEMENTS,
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "maxLength": TEXT_LIMITS["name"]},
                        "aspect": {"type": "string", "enum": list(ASPECTS)},
                        "verdict": {"type": "string", "enum": list(Review.Verdict.values)},
                    },
                    "required": ["name", "aspect", "verdict"],
                },
            },
            "score": {"type": "integer", "minimum": 0, "maximum": SCORE_MAX},
            "fix": {"type": "string", "maxLength": TEXT_LIMITS["fix"]},
            "comment": {"type": "string", "maxLength": TEXT_LIMITS["comment"]},
        },
        "required": ["elements", "score", "fix", "comment"],
    }


def _text(value, field: str) -> str:
    if not isinstance(value, str):
        raise CritiqueError(f"its {field} is not text")
    return " ".join(value.split())[: TEXT_LIMITS[field]]


def _element(item) -> dict:
    if not isinstance(item, dict):
        raise CritiqueError("an element is not an object")
    name = _text(item.get("name"), "name")
    verdict = item.get("verdict")
    if not name:
        raise CritiqueError("an element has no name")
    if verdict not in Review.Verdict.values:
        raise CritiqueError(f"the element “{name}” has the verdict {verdict!r}, not present, partly or missing")
    aspect = item.get("aspect") if item.get("aspect") in ASPECTS else "subject"
    return {"name": name, "aspect": aspect, "verdict": verdict}


def parse_review(text: str) -> Critique:
    """Read Lens's JSON; CritiqueError says what is wrong when it cannot be trusted as a review."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        raise CritiqueError("the answer was not valid JSON") from None
    if not isinstance(data, dict):
        raise CritiqueError("the answer was not a JSON object")
    score = data.get("score")
    if isinstance(score, float) and score.is_integer():
        score = int(score)
    if isinstance(score, bool) or not isinstance(score, int):
        raise CritiqueError(f"the score {score!r} is not a whole number")
    if not 0 <= score <= SCORE_MAX:
        raise CritiqueError(f"the score {score} is outside 0–{SCORE_MAX}")
    raw_elements = data.get("elements")
    if not isinstance(raw_elements, list) or not raw_elements:
        raise CritiqueError("it lists no elements")
    elements = [_element(item) for item in raw_elements[:MAX_ELEMENTS]]
    return Critique(
        score=score,
        fix=_text(data.get("fix", ""), "fix"),
        comment=_text(data.get("comment", ""), "comment"),
        elements=elements,
    )


REVISE_WITHOUT_REVIEW = (
    "Pixel, revise the generation brief with what the artist just said, keep what worked, and answer as JSON "
    "that follows the schema."
)


def revision_cue(review: Review) -> str:
    """What Pixel hears when the loop asks for a revised brief: the attempt's prompt, what it lacks, Lens's fix."""
    lacking = "; ".join(f"{e['name']} ({e['verdict']})" for e in review.lacking()) or "nothing listed"
    parameters = review.generation.parameters if review.generation is not None else {}
    prompt = parameters.get("positive_prompt", "")
    used = f"That attempt's positive prompt was: {prompt}. " if prompt else ""
    return (
        f"Pixel, Lens scored attempt {review.attempt_number} {review.score}/10. {used}Elements it lacks: "
        f"{lacking}. Lens's most important fix: {review.fix or 'none given'}. Revise the generation brief so "
        "the picture shows every element the artist asked for: add the missing ones to the positive prompt, near "
        "the start, keep what worked, and answer as JSON that follows the schema."
    )
