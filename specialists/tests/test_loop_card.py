"""How a review, the auto-refine card and a revised brief are drawn in the chat."""

import pytest
from django.core.files.base import ContentFile

from generations.models import Generation, MediaOutput
from specialists.models import Conversation, Message, Phase, RefineLoop, Review, Role
from specialists.services import refine_loop
from specialists.services.brief_changes import brief_changes
from specialists.services.chat_html import render_message

pytestmark = pytest.mark.django_db

HOSTILE = '<img src=x onerror="alert(1)">'


@pytest.fixture
def conversation(alice_session):
    alice_session.settings = {"auto_refine": {"on": True, "attempts": 3, "threshold": 8}}
    alice_session.save()
    conversation = Conversation.objects.create(session=alice_session, phase=Phase.COMPLETE)
    conversation.append_message(Role.USER, "a red lighthouse, stormy sea")
    return conversation


def attempt(conversation, score, prompt, *, picture=True):
    generation = Generation.objects.create(
        session=conversation.session, status="complete", parameters={"positive_prompt": prompt, "steps": 20}
    )
    if picture:
        output = MediaOutput(
            generation=generation, kind="image", content_type="image/png", source_key="k", size_bytes=3
        )
        output.file.save("a.png", ContentFile(b"PNG"))
    result = conversation.append_message(Role.SYSTEM, "ready", kind="result", opens_turn=True, generation=generation)
    loop = refine_loop.open_loop(conversation)
    if loop is not None:
        RefineLoop.objects.filter(pk=loop.pk).update(anchor=result)
    bubble = conversation.append_message(Role.CRITIC, f"Comment {HOSTILE}", kind=Message.Kind.REVIEW)
    elements = [
        {"name": "a red lighthouse", "aspect": "subject", "verdict": "present"},
        {"name": f"stormy sea {HOSTILE}", "aspect": "setting", "verdict": "missing"},
    ]
    review = Review.objects.create(
        message=bubble, generation=generation, score=score, fix=f"Add the storm {HOSTILE}", elements=elements
    )
    refine_loop.after_review(conversation, review, result)
    return bubble, review


def test_a_review_shows_its_score_fix_and_elements_escaped(conversation):
    bubble, _ = attempt(conversation, 4, "a red lighthouse")
    html = render_message(bubble)
    assert '<strong class="score score-low">4/10</strong>' in html
    assert "Most important fix: Add the storm &lt;img" in html
    assert '<li class="verdict-missing"><span class="badge">missing</span> stormy sea &lt;img' in html
    assert '<li class="verdict-present"><span class="badge">present</span> a red lighthouse' in html
    assert HOSTILE not in html


def test_the_card_shows_each_attempt_with_its_picture_score_and_what_changed(conversation):
    _, first = attempt(conversation, 4, "a red lighthouse")
    _, second = attempt(conversation, 6, "a red lighthouse, stormy sea")
    loop = RefineLoop.objects.get()
    html = render_message(loop.card)
    assert html.count('<li class="attempt') == 2
    assert "#1 · 4/10" in html and "#2 · 6/10" in html
    assert "first attempt" in html and "+ stormy sea" in html
    assert html.count('<img src="/media/') == 2
    assert "Attempt 3 of 3 · best 6/10 · aiming for 8/10" in html
    # running: Stop and Accept; the keeper has no "Keep this one"; no "Refine from" while it runs
    assert ">Stop</button>" in html and ">Accept the kept attempt</button>" in html
    assert html.count(">Keep this one</button>") == 1 and "Refine from this one" not in html
    assert f'"review": "{first.pk}"' in html and 'badge-keeper">kept' in html


def test_an_ended_loop_offers_refine_from_each_attempt_and_says_how_it_ended(conversation):
    attempt(conversation, 4, "a red lighthouse")
    attempt(conversation, 9, "a red lighthouse, stormy sea")
    html = render_message(RefineLoop.objects.get().card)
    assert "Auto-refine ended after 2 attempts: the score reached the threshold. Attempt 2 (9/10) is kept." in html
    assert html.count("Refine from this one") == 2 and ">Stop</button>" not in html


def test_a_paused_loop_offers_resume(conversation):
    attempt(conversation, 4, "a red lighthouse")
    refine_loop.pause_for_artist(conversation)
    html = render_message(RefineLoop.objects.get().card)
    assert "Paused while you talk to the team" in html and ">Resume auto-refine</button>" in html


def test_a_revised_brief_says_what_it_changed(conversation):
    first = conversation.append_message(
        Role.TECHNICAL,
        "Brief.",
        kind=Message.Kind.BRIEF,
        brief={"positive_prompt": "a lighthouse, calm sea", "steps": 20},
    )
    revised = conversation.append_message(
        Role.TECHNICAL,
        "Brief.",
        kind=Message.Kind.BRIEF,
        brief={"positive_prompt": "a lighthouse, stormy sea", "steps": 28},
        metadata={"revises": first.pk},
    )
    html = render_message(revised)
    assert '<ul class="brief-changes"' in html
    assert "<li>+ stormy sea</li>" in html and "<li>− calm sea</li>" in html and "<li>steps 20 → 28</li>" in html


def test_brief_changes_lists_only_what_an_artist_chose():
    before = {"positive_prompt": "a fox, Snow", "negative_prompt": "blurry", "seed": 1, "cfg": 7}
    assert brief_changes(before, {**before, "seed": 2, "positive_prompt": "a fox,  snow"}) == []
    after = {**before, "negative_prompt": "blurry, text", "cfg": 5, "aspect": "wide"}
    assert brief_changes(before, after) == ["negative prompt changed", "aspect — → wide", "CFG 7 → 5"]


@pytest.mark.parametrize(
    ("kind", "role", "status", "says"),
    [
        (Message.Kind.DRAFTING, Role.TECHNICAL, Message.Status.INTERRUPTED, "The brief was left unfinished."),
        (Message.Kind.DRAFTING, Role.TECHNICAL, Message.Status.FAILED, "The brief was left unfinished."),
        (Message.Kind.REVIEW, Role.CRITIC, Message.Status.INTERRUPTED, "The review was left unfinished."),
    ],
)
def test_a_structured_answer_cut_off_half_way_shows_no_raw_json(conversation, kind, role, status, says):
    message = conversation.append_message(role, '{"positive_prompt": "a red light', kind=kind)
    Message.objects.filter(pk=message.pk).update(status=status)
    message.refresh_from_db()
    html = render_message(message)
    assert says in html
    assert "positive_prompt" not in html
