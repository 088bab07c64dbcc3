"""The whole auto-refine loop against the fake engines: a vision critic that scores what the picture's prompt
carries (tests/fakes/critic.py), Pixel revising from it, and the fake ComfyUI rendering each attempt."""

import asyncio
import json
import time

import pytest
from asgiref.sync import sync_to_async

from generations.models import Generation
from generations.services.generate import start_generation
from specialists.models import Conversation, Message, Phase, RefineLoop, Review, Role
from specialists.services import runs
from studio.core.models import Session
from tests.fakes.critic import TeamResponder
from tests.fixtures.conversations import renders_pending

pytestmark = pytest.mark.django_db(transaction=True)

IDEA = "a red lighthouse, stormy sea, oil painting, at dusk, wide shot"
FIRST_BRIEF = {"positive_prompt": "a red lighthouse, stormy sea", "negative_prompt": "blurry", "steps": 4, "seed": 3}


@sync_to_async
def begin(user, *, on=True, attempts=3, threshold=8, critic="llava:7b", brief=FIRST_BRIEF) -> Session:
    session = Session.objects.create(
        owner=user,
        title="Lighthouse",
        settings={"auto_refine": {"on": on, "attempts": attempts, "threshold": threshold}},
        model_assignments={"critic": critic},
    )
    conversation = Conversation.objects.create(session=session, phase=Phase.REVIEW)
    conversation.append_message(Role.USER, IDEA)
    conversation.append_message(Role.TECHNICAL, "Here is the brief.", kind=Message.Kind.BRIEF, brief=brief)
    start_generation(session, brief, user=user)  # the artist's Generate
    return session


_state = sync_to_async(renders_pending)


async def drive(session, timeout: float = 60) -> Conversation:
    """Run the team, and wait for each render it starts, until the conversation waits for the artist."""
    deadline = time.monotonic() + timeout
    while True:
        conversation, busy = await _state(session)
        if not busy:
            await asyncio.wait_for(runs.run_pending(conversation.pk), 30)
            conversation, busy = await _state(session)
            if not busy:
                return conversation
        if time.monotonic() > deadline:
            raise AssertionError("the loop did not come to rest")
        await asyncio.sleep(0.05)


@sync_to_async
def loop_of(session) -> RefineLoop:
    return RefineLoop.objects.select_related("keeper").get(conversation__session=session)


@sync_to_async
def reviews_of(session) -> list[Review]:
    return list(Review.objects.filter(message__conversation__session=session).select_related("generation"))


@sync_to_async
def texts_of(session, **filters) -> list[str]:
    return list(
        Message.objects.filter(conversation__session=session, **filters)
        .order_by("order")
        .values_list("content", flat=True)
    )


@pytest.fixture
def engines(fake_ollama, fake_comfyui, settings):
    settings.GENERATION_JOBS_IN_PROCESS = True  # the studio renders itself: no worker in these tests
    fake_ollama.responder = TeamResponder()
    return fake_ollama


async def test_the_loop_refines_until_the_score_reaches_the_threshold(alice, engines):
    session = await begin(alice)
    await drive(session)
    loop, reviews = await loop_of(session), await reviews_of(session)
    assert [r.score for r in reviews] == [4, 8]  # 2 of 5 elements, then 4 of 5
    assert loop.ending == RefineLoop.Ending.THRESHOLD and loop.attempts == 2 and loop.keeper == reviews[-1]
    # Pixel's revision added what Lens found missing, and its card says what changed
    second = reviews[1].generation.parameters["positive_prompt"]
    assert second.startswith("a red lighthouse, stormy sea, oil painting, at dusk")
    briefs = await sync_to_async(list)(
        Message.objects.filter(conversation__session=session, kind=Message.Kind.BRIEF).order_by("order")
    )
    assert briefs[-1].metadata["revises"] == briefs[-2].pk
    notices = await texts_of(session, kind=Message.Kind.NOTICE)
    assert "Auto-refine ended after 2 attempts: the score reached the threshold. Attempt 2 (8/10) is kept." in notices


async def test_lens_is_asked_with_the_picture_the_schema_and_the_artists_words(alice, engines):
    session = await begin(alice, on=False)
    await drive(session)
    review_request = next(r["json"] for r in engines.chat_requests() if "score" in json.dumps(r["json"].get("format")))
    assert review_request["model"] == "llava:7b"
    assert review_request["messages"][-1]["images"]
    assert f"The artist's words: “{IDEA}”" in review_request["messages"][-1]["content"]
    (review,) = await reviews_of(session)
    assert review.score == 4 and {e["name"] for e in review.lacking()} == {"oil painting", "at dusk", "wide shot"}
    assert not await sync_to_async(RefineLoop.objects.exists)()  # auto-refine is off: one review, no loop


async def test_the_loop_stops_at_its_attempts_and_keeps_the_best(alice, engines):
    engines.responder = TeamResponder(adds_per_revision=1)
    session = await begin(alice, attempts=2)
    await drive(session)
    loop, reviews = await loop_of(session), await reviews_of(session)
    assert [r.score for r in reviews] == [4, 6]
    assert loop.ending == RefineLoop.Ending.ATTEMPTS and loop.keeper == reviews[1]


async def test_a_loop_that_cannot_improve_stops_by_itself(alice, engines):
    engines.responder = TeamResponder(cannot_draw=("dusk", "wide"))
    brief = {**FIRST_BRIEF, "positive_prompt": "a red lighthouse, stormy sea, oil painting"}
    session = await begin(alice, attempts=6, brief=brief)
    await drive(session)
    loop, reviews = await loop_of(session), await reviews_of(session)
    assert [r.score for r in reviews] == [6, 6, 6]
    assert loop.ending == RefineLoop.Ending.STALLED and loop.keeper == reviews[0]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("The picture is lovely, I give it 9/10.", "the answer was not valid JSON"),
        (
            json.dumps(
                {
                    "elements": [{"name": "x", "aspect": "mood", "verdict": "present"}],
                    "score": 12,
                    "fix": "",
                    "comment": "",
                }
            ),
            "the score 12 is outside 0–10",
        ),
    ],
)
async def test_a_critic_answer_that_cannot_be_read_stops_the_loop_and_keeps_what_it_has(alice, engines, answer, reason):
    team = TeamResponder()
    reviews_seen = []

    def critic_breaks_on_the_second_review(body):
        if "score" in json.dumps(body.get("format") or {}):
            reviews_seen.append(body)
            if len(reviews_seen) == 2:
                return answer
        return team(body)

    engines.responder = critic_breaks_on_the_second_review
    session = await begin(alice)
    await drive(session)
    loop, reviews = await loop_of(session), await reviews_of(session)
    assert loop.ending == RefineLoop.Ending.FAILED and loop.attempts == 1 and loop.keeper == reviews[0]
    failed = await sync_to_async(Message.objects.get)(
        conversation__session=session, kind=Message.Kind.REVIEW, status=Message.Status.FAILED
    )
    assert failed.metadata["error"].startswith(f"Lens's review could not be read ({reason}). Press Try again")
    assert await sync_to_async(Generation.objects.filter(session=session).count)() == 2  # both renders kept
    notices = await texts_of(session, kind=Message.Kind.NOTICE)
    assert any(n.startswith("Auto-refine ended after 1 attempt: Lens's review could not be used.") for n in notices)


async def test_a_vision_model_that_refuses_the_picture_stops_the_loop(alice, engines):
    team = TeamResponder()

    def refuse_the_next_look(body):
        if "Elements it lacks" in json.dumps(body["messages"][-1]):  # Pixel revises: Lens looks next
            engines.fail_next("server_error", status=500, message="this model is missing data required for image input")
        return team(body)

    engines.responder = refuse_the_next_look
    session = await begin(alice)
    await drive(session)
    loop, reviews = await loop_of(session), await reviews_of(session)
    assert loop.ending == RefineLoop.Ending.FAILED and loop.keeper == reviews[0] and len(reviews) == 1
    failed = await sync_to_async(Message.objects.get)(
        conversation__session=session, kind=Message.Kind.REVIEW, status=Message.Status.FAILED
    )
    assert "cannot look at images" in failed.metadata["error"]


async def test_a_lens_that_cannot_see_says_which_installed_model_could(alice, engines):
    session = await begin(alice, critic="qwen2.5:7b")
    await drive(session)
    (said,) = await texts_of(session, role=Role.CRITIC)
    assert said == (
        "I can't see pictures through qwen2.5:7b. llava:7b can: choose one for Lens in the session's Settings, "
        "and I will score every result against what you asked for."
    )
    assert not any(r["json"].get("images") or r["json"]["messages"][-1].get("images") for r in engines.chat_requests())
    assert not await reviews_of(session)


async def test_with_no_model_that_sees_lens_says_which_to_pull(alice, engines, settings):
    engines.models = ["qwen2.5:7b"]
    session = await begin(alice, critic="qwen2.5:7b")
    await drive(session)
    (said,) = await texts_of(session, role=Role.CRITIC)
    assert "no installed model can. Pull one that can (`ollama pull qwen2.5vl:3b`)" in said


def test_a_standalone_fake_is_switched_to_the_team_and_back_over_its_control_api(fake_ollama):
    from tests.fakes.ollama import default_responder
    from tests.processes import http

    status, _ = http("POST", f"{fake_ollama.url}/_fake/config", {"responder": "team", "cannot_draw": ["dusk"]})
    assert status == 200
    assert isinstance(fake_ollama.responder, TeamResponder) and fake_ollama.responder.cannot_draw == ("dusk",)
    status, body = http("POST", f"{fake_ollama.url}/_fake/config", {"responder": "sculptor"})
    assert status == 400 and b"unknown responder 'sculptor'" in body
    assert isinstance(fake_ollama.responder, TeamResponder)
    status, _ = http("POST", f"{fake_ollama.url}/_fake/config", {"responder": "default"})
    assert status == 200 and fake_ollama.responder is default_responder
