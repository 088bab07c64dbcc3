import json

import pytest

from specialists.models import Review
from specialists.services.critique import (
    MAX_ELEMENTS,
    SCORE_MAX,
    TEXT_LIMITS,
    CritiqueError,
    parse_review,
    review_cue,
    review_schema,
    revision_cue,
)


def answer(**fields):
    data = {
        "elements": [{"name": "a red lighthouse", "aspect": "subject", "verdict": "present"}],
        "score": 7,
        "fix": "Darken the sky.",
        "comment": "Strong subject, **weak** storm.",
    }
    data.update(fields)
    return json.dumps(data)


def test_it_reads_a_review_as_given():
    found = parse_review(answer())
    assert found.score == 7 and found.fix == "Darken the sky." and found.comment == "Strong subject, **weak** storm."
    assert found.elements == [{"name": "a red lighthouse", "aspect": "subject", "verdict": "present"}]


@pytest.mark.parametrize("score", [0, SCORE_MAX])
def test_it_takes_both_ends_of_the_score(score):
    assert parse_review(answer(score=score)).score == score


def test_a_whole_float_score_is_read_as_its_integer():
    assert parse_review(answer(score=8.0)).score == 8


@pytest.mark.parametrize(
    ("score", "says"),
    [
        (-1, "outside 0–10"),
        (SCORE_MAX + 1, "outside 0–10"),
        (7.5, "not a whole number"),
        ("8", "not a whole"),
        (True, "not a whole"),
        (None, "not a whole"),
    ],
)
def test_it_refuses_a_score_it_cannot_trust(score, says):
    with pytest.raises(CritiqueError, match=says):
        parse_review(answer(score=score))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("The picture is lovely, 9/10.", "not valid JSON"),
        ('{"score": 7', "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        (None, "not valid JSON"),
    ],
)
def test_it_refuses_what_is_not_a_json_review(text, says):
    with pytest.raises(CritiqueError, match=says):
        parse_review(text)


def test_it_refuses_a_review_without_elements_or_with_an_unknown_verdict():
    with pytest.raises(CritiqueError, match="lists no elements"):
        parse_review(answer(elements=[]))
    with pytest.raises(CritiqueError, match="“a red lighthouse” has the verdict 'maybe'"):
        parse_review(answer(elements=[{"name": "a red lighthouse", "aspect": "subject", "verdict": "maybe"}]))
    with pytest.raises(CritiqueError, match="no name"):
        parse_review(answer(elements=[{"name": "  ", "verdict": "present"}]))
    with pytest.raises(CritiqueError, match="fix is not text"):
        parse_review(answer(fix=3))


def test_it_keeps_at_most_the_limits_and_an_unknown_aspect_becomes_subject():
    many = [
        {"name": f"thing {n} " + "x" * 500, "aspect": "vibes", "verdict": "missing"} for n in range(MAX_ELEMENTS + 5)
    ]
    found = parse_review(answer(elements=many, comment="y" * 5000))
    assert len(found.elements) == MAX_ELEMENTS
    assert all(len(e["name"]) == TEXT_LIMITS["name"] and e["aspect"] == "subject" for e in found.elements)
    assert len(found.comment) == TEXT_LIMITS["comment"]


def test_the_schema_bounds_the_score_and_the_verdicts():
    schema = review_schema()
    assert schema["properties"]["score"] == {"type": "integer", "minimum": 0, "maximum": SCORE_MAX}
    verdicts = schema["properties"]["elements"]["items"]["properties"]["verdict"]["enum"]
    assert verdicts == ["present", "partly", "missing"]
    assert set(schema["required"]) == {"elements", "score", "fix", "comment"}


def test_the_cue_carries_the_artists_words_within_a_limit():
    cue = review_cue("a red   lighthouse,\n stormy sea" + " more" * 1000)
    assert "The artist's words: “a red lighthouse, stormy sea more" in cue
    assert len(cue) < 3000


def test_pixels_revision_cue_names_what_is_lacking_and_the_fix():
    review = Review(
        score=4,
        fix="Add the storm.",
        elements=[
            {"name": "a red lighthouse", "aspect": "subject", "verdict": "present"},
            {"name": "stormy sea", "aspect": "setting", "verdict": "missing"},
            {"name": "at dusk", "aspect": "lighting", "verdict": "partly"},
        ],
    )
    cue = revision_cue(review)
    assert "scored attempt 1 4/10" in cue
    assert "Elements it lacks: stormy sea (missing); at dusk (partly)." in cue
    assert "Lens's most important fix: Add the storm." in cue
    assert "a red lighthouse" not in cue
