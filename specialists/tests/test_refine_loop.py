"""The auto-refine loop's state: counting attempts, keeping the best, ending, and the artist's buttons."""

import pytest

from generations.models import Generation
from specialists.models import STALL_LIMIT, Conversation, Message, Phase, RefineLoop, Review, Role
from specialists.services import refine_loop
from specialists.services.turns import next_step

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(alice_session):
    alice_session.settings = {"auto_refine": {"on": True, "attempts": 3, "threshold": 8}}
    alice_session.save()
    conversation = Conversation.objects.create(session=alice_session, phase=Phase.COMPLETE)
    conversation.append_message(Role.USER, "a red lighthouse, stormy sea")
    return conversation


def result_and_review(conversation, score: int, *, missing=("stormy sea",)) -> tuple[Message, Review]:
    generation = Generation.objects.create(session=conversation.session, status="complete")
    result = conversation.append_message(Role.SYSTEM, "ready", kind="result", opens_turn=True, generation=generation)
    bubble = conversation.append_message(Role.CRITIC, "Looked.", kind=Message.Kind.REVIEW)
    elements = [{"name": name, "aspect": "setting", "verdict": "missing"} for name in missing]
    review = Review.objects.create(
        message=bubble, generation=generation, score=score, fix="More storm.", elements=elements
    )
    return result, review


def reviewed(conversation, score, **kwargs) -> tuple[RefineLoop, refine_loop.Outcome, Review]:
    result, review = result_and_review(conversation, score, **kwargs)
    loop = refine_loop.open_loop(conversation)
    if loop is not None:
        RefineLoop.objects.filter(pk=loop.pk).update(anchor=result)
    outcome = refine_loop.after_review(conversation, review, result)
    review.refresh_from_db()
    return RefineLoop.objects.get(pk=review.loop_id), outcome, review


def test_a_review_opens_a_loop_with_the_sessions_setting_and_a_card(conversation):
    loop, outcome, review = reviewed(conversation, 4)
    assert loop.status == RefineLoop.Status.RUNNING and loop.max_attempts == 3 and loop.threshold == 8
    assert loop.attempts == 1 and loop.best_score == 4 and loop.keeper == review and loop.base == review
    assert outcome.card_id == loop.card_id and loop.card.kind == Message.Kind.REFINE_LOOP
    assert outcome.notice_id is None


def test_with_auto_refine_off_a_review_opens_no_loop(conversation):
    conversation.session.settings = {}
    conversation.session.save()
    result, review = result_and_review(conversation, 3)
    assert refine_loop.after_review(conversation, review, result) == refine_loop.Outcome()
    assert not RefineLoop.objects.exists()


def test_the_loop_goes_on_to_pixels_revision_then_to_the_render(conversation):
    loop, _, _ = reviewed(conversation, 4)
    step = next_step(conversation)
    assert step.kind == "revise" and step.speakers == (Role.TECHNICAL,)
    conversation.append_message(Role.TECHNICAL, "Revised.", kind=Message.Kind.BRIEF, brief={"positive_prompt": "x"})
    assert next_step(conversation).kind == "render"


def test_reaching_the_threshold_ends_the_loop_and_keeps_that_attempt(conversation):
    reviewed(conversation, 4)
    loop, outcome, review = reviewed(conversation, 8)
    assert loop.status == RefineLoop.Status.ENDED and loop.ending == RefineLoop.Ending.THRESHOLD
    assert loop.keeper == review and loop.attempts == 2 and loop.best_score == 8
    notice = Message.objects.get(pk=outcome.notice_id)
    assert notice.content == (
        "Auto-refine ended after 2 attempts: the score reached the threshold. Attempt 2 (8/10) is kept."
    )
    assert next_step(conversation) is None


def test_the_last_attempt_ends_the_loop_and_the_best_one_is_kept(conversation):
    _, _, best = reviewed(conversation, 6)
    reviewed(conversation, 7)
    loop, _, _ = reviewed(conversation, 5)
    assert loop.ending == RefineLoop.Ending.ATTEMPTS and loop.attempts == 3
    assert loop.keeper.score == 7 and loop.best_score == 7
    assert loop.keeper != best


def test_scores_that_stop_improving_end_the_loop(conversation):
    conversation.session.settings["auto_refine"]["attempts"] = 6
    conversation.session.save()
    _, _, first = reviewed(conversation, 6)
    for _ in range(STALL_LIMIT - 1):
        loop, _, _ = reviewed(conversation, 6)
        assert loop.status == RefineLoop.Status.RUNNING and loop.stale >= 1
    loop, _, _ = reviewed(conversation, 5)
    assert loop.ending == RefineLoop.Ending.STALLED and loop.keeper == first


def test_an_improvement_resets_the_stall_count(conversation):
    conversation.session.settings["auto_refine"]["attempts"] = 6
    conversation.session.save()
    reviewed(conversation, 3)
    reviewed(conversation, 3)
    loop, _, _ = reviewed(conversation, 5)
    assert loop.stale == 0 and loop.status == RefineLoop.Status.RUNNING


def test_one_review_is_counted_once_even_by_two_writers(conversation):
    loop, _, review = reviewed(conversation, 4)
    stale_copy = RefineLoop.objects.get(pk=loop.pk)
    loop.record(review)
    assert not stale_copy.record(review)  # counted from the attempt number it read: refused
    assert RefineLoop.objects.get(pk=loop.pk).attempts == 2


def test_the_artists_words_pause_the_loop_and_resume_revises_from_the_kept_attempt(conversation):
    loop, _, review = reviewed(conversation, 4)
    assert refine_loop.pause_for_artist(conversation).card_id == loop.card_id
    loop.refresh_from_db()
    assert loop.status == RefineLoop.Status.PAUSED
    assert refine_loop.pause_for_artist(conversation) == refine_loop.Outcome()  # already paused
    outcome = refine_loop.act(loop, "resume")
    loop.refresh_from_db()
    notice = Message.objects.get(pk=outcome.notice_id)
    assert loop.status == RefineLoop.Status.RUNNING and loop.anchor == notice and loop.base == review
    assert notice.content == "Auto-refine goes on from attempt 1: Pixel revises its brief."
    assert next_step(conversation).kind == "revise"


def test_stop_and_accept_end_the_loop_once(conversation):
    loop, _, _ = reviewed(conversation, 4)
    refine_loop.act(loop, "accept")
    loop.refresh_from_db()
    assert loop.ending == RefineLoop.Ending.ACCEPTED and loop.ended_at is not None
    with pytest.raises(refine_loop.LoopRefused, match="already ended"):
        refine_loop.act(loop, "stop")
    assert RefineLoop.objects.get(pk=loop.pk).ending == RefineLoop.Ending.ACCEPTED


def test_keep_picks_the_keeper_and_refine_from_revises_that_attempt(conversation):
    _, _, first = reviewed(conversation, 4)
    loop, _, second = reviewed(conversation, 6)
    refine_loop.act(loop, "stop")
    refine_loop.act(loop, "keep", str(first.pk))
    loop.refresh_from_db()
    assert loop.keeper == first and loop.status == RefineLoop.Status.ENDED
    refine_loop.act(loop, "refine_from", str(second.pk))
    loop.refresh_from_db()
    assert loop.status == RefineLoop.Status.RUNNING and loop.base == second and loop.ending == ""


def test_the_ending_names_the_kept_attempt_with_its_own_score(conversation):
    _, _, first = reviewed(conversation, 4)
    loop, _, _ = reviewed(conversation, 6)
    refine_loop.act(loop, "keep", str(first.pk))
    loop.refresh_from_db()
    assert refine_loop.ending_text(loop).endswith("Attempt 1 (4/10) is kept.")


def test_stop_cancels_the_render_under_way(conversation):
    loop, _, _ = reviewed(conversation, 4)
    rendering = Generation.objects.create(session=conversation.session, status=Generation.Status.QUEUED)
    RefineLoop.objects.filter(pk=loop.pk).update(rendering=rendering)
    refine_loop.act(loop, "stop")
    rendering.refresh_from_db()
    assert rendering.status == Generation.Status.CANCELLED


def test_accept_leaves_a_finished_render_alone(conversation):
    loop, _, _ = reviewed(conversation, 4)
    done = Generation.objects.create(session=conversation.session, status=Generation.Status.COMPLETE)
    RefineLoop.objects.filter(pk=loop.pk).update(rendering=done)
    refine_loop.act(loop, "accept")
    done.refresh_from_db()
    assert done.status == Generation.Status.COMPLETE


def test_a_render_that_finishes_after_stop_is_that_loops_attempt_not_a_new_loop(conversation):
    loop, _, first = reviewed(conversation, 4)
    late = Generation.objects.create(session=conversation.session, status=Generation.Status.COMPLETE)
    RefineLoop.objects.filter(pk=loop.pk).update(rendering=late)
    refine_loop.act(loop, "stop")
    result = conversation.append_message(Role.SYSTEM, "ready", kind="result", opens_turn=True, generation=late)
    bubble = conversation.append_message(Role.CRITIC, "Looked.", kind=Message.Kind.REVIEW)
    review = Review.objects.create(message=bubble, generation=late, score=9, fix="", elements=[])
    outcome = refine_loop.after_review(conversation, review, result)
    loop.refresh_from_db()
    assert RefineLoop.objects.count() == 1 and outcome.card_id == loop.card_id
    assert loop.attempts == 2 and loop.status == RefineLoop.Status.ENDED
    assert loop.keeper == first, "the artist's Stop kept attempt 1; the late one waits in the strip to be picked"
    assert list(loop.reviews.order_by("pk")) == [first, review]
    # Counted once: the same render reviewed again changes nothing.
    again = Review.objects.create(
        message=conversation.append_message(Role.CRITIC, "Again.", kind=Message.Kind.REVIEW),
        generation=late,
        score=9,
        fix="",
        elements=[],
    )
    assert refine_loop.after_review(conversation, again, result).card_id == loop.card_id
    loop.refresh_from_db()
    assert loop.attempts == 2 and RefineLoop.objects.count() == 1


def test_lens_looking_again_at_an_attempt_of_a_running_loop_counts_nothing(conversation):
    loop, _, first = reviewed(conversation, 4)
    result = Message.objects.get(conversation=conversation, kind="result", generation=first.generation)
    again = Review.objects.create(
        message=conversation.append_message(Role.CRITIC, "Again.", kind=Message.Kind.REVIEW),
        generation=first.generation,
        score=7,
        fix="",
        elements=[],
    )
    refine_loop.after_review(conversation, again, result)
    loop.refresh_from_db()
    assert loop.status == RefineLoop.Status.RUNNING and loop.attempts == 1 and loop.best_score == 4
    assert RefineLoop.objects.count() == 1


def test_refine_from_is_refused_once_every_attempt_is_used(conversation):
    reviewed(conversation, 1)
    reviewed(conversation, 2)
    loop, _, last = reviewed(conversation, 3)
    with pytest.raises(refine_loop.LoopRefused, match="used all its 3 attempts"):
        refine_loop.act(loop, "refine_from", str(last.pk))


@pytest.mark.parametrize("review_id", ["999999", "x", "", None])
def test_an_attempt_of_another_loop_or_none_is_refused(conversation, review_id):
    loop, _, _ = reviewed(conversation, 4)
    with pytest.raises(refine_loop.LoopRefused, match="not part of this loop"):
        refine_loop.act(loop, "keep", review_id)


def test_an_unknown_action_is_refused(conversation):
    loop, _, _ = reviewed(conversation, 4)
    with pytest.raises(refine_loop.LoopRefused, match="Unknown action 'explode'"):
        refine_loop.act(loop, "explode")


def test_a_picture_made_outside_the_loop_supersedes_it(conversation):
    old, _, _ = reviewed(conversation, 4)
    result, review = result_and_review(conversation, 5)  # the artist pressed Generate meanwhile
    outcome = refine_loop.after_review(conversation, review, result)
    old.refresh_from_db()
    assert old.ending == RefineLoop.Ending.SUPERSEDED
    assert "a newer loop took over" in Message.objects.get(pk=outcome.notice_id).content
    assert refine_loop.open_loop(conversation).attempts == 1


def test_a_failed_render_of_the_loop_stops_it_and_keeps_its_attempts(conversation):
    loop, _, review = reviewed(conversation, 4)
    generation = Generation.objects.create(session=conversation.session, status="failed", error="out of memory")
    RefineLoop.objects.filter(pk=loop.pk).update(rendering=generation)
    outcome = refine_loop.on_result(conversation, generation, None)
    loop.refresh_from_db()
    assert loop.ending == RefineLoop.Ending.FAILED and loop.keeper == review
    assert (
        f"the render of generation #{generation.pk} did not finish (failed)"
        in Message.objects.get(pk=outcome.notice_id).content
    )


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ({}, (False, 3, 8)),
        ({"on": True, "attempts": 6, "threshold": 10}, (True, 6, 10)),
        ({"on": True, "attempts": 1, "threshold": 1}, (True, 1, 1)),
        ({"on": "yes", "attempts": 7, "threshold": 11}, (False, 3, 8)),
        ({"on": True, "attempts": 0, "threshold": 0}, (True, 3, 8)),
        ({"on": True, "attempts": True, "threshold": "9"}, (True, 3, 8)),
    ],
)
def test_the_setting_is_read_strictly_within_its_bounds(alice_session, stored, expected):
    alice_session.settings = {"auto_refine": stored}
    setting = refine_loop.setting_of(alice_session)
    assert (setting.on, setting.max_attempts, setting.threshold) == expected
