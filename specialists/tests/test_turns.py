import pytest

from specialists.models import Conversation, Message, Phase, Role
from specialists.services.turns import next_step
from tests.fixtures.conversations import put_in_phase


@pytest.fixture
def conversation(alice_session):
    return Conversation.objects.create(session=alice_session)


def say(conversation, role, text="…", status=Message.Status.COMPLETE, **columns):
    return conversation.append_message(role, text, status=status, **columns)


def test_it_waits_for_the_artist_before_anyone_speaks(conversation):
    assert next_step(conversation) is None


def test_the_ideation_team_answers_the_first_idea(conversation):
    idea = say(conversation, Role.USER, "a lighthouse at dusk")
    step = next_step(conversation)
    assert step.kind == "speak"
    assert step.speakers == (Role.STYLE, Role.COMPOSITION, Role.STORY)
    assert step.anchor_id == idea.pk
    assert step.independent


def test_only_the_specialists_who_have_not_spoken_are_pending(conversation):
    say(conversation, Role.USER, "idea")
    say(conversation, Role.STYLE, "moody teal")
    assert next_step(conversation).speakers == (Role.COMPOSITION, Role.STORY)


def test_a_finished_first_round_waits_for_the_artist(conversation):
    say(conversation, Role.USER, "idea")
    for role in (Role.STYLE, Role.COMPOSITION, Role.STORY):
        say(conversation, role)
    assert next_step(conversation) is None


def test_the_last_round_of_a_phase_moves_on(conversation):
    conversation.round = 2
    conversation.save()
    say(conversation, Role.USER, "more")
    for role in (Role.STYLE, Role.COMPOSITION, Role.STORY):
        say(conversation, role)
    step = next_step(conversation)
    assert step.kind == "advance" and step.to_phase == Phase.REFINEMENT


def test_an_interjection_opens_a_new_turn(conversation):
    say(conversation, Role.USER, "idea")
    say(conversation, Role.STYLE, "half a tho", status=Message.Status.INTERRUPTED)
    interjection = say(conversation, Role.USER, "make it winter")
    step = next_step(conversation)
    assert step.anchor_id == interjection.pk
    assert step.speakers == (Role.STYLE, Role.COMPOSITION, Role.STORY)


def test_a_failed_reply_waits_for_retry_and_a_retry_resumes(conversation):
    say(conversation, Role.USER, "idea")
    failed = say(conversation, Role.STYLE, "", status=Message.Status.FAILED)
    assert next_step(conversation) is None
    failed.mark_retried()
    assert next_step(conversation).speakers == (Role.STYLE, Role.COMPOSITION, Role.STORY)


def test_synthesis_asks_pixel_for_a_brief_then_moves_to_review(conversation):
    put_in_phase(conversation, Phase.SYNTHESIS)
    say(conversation, Role.SYSTEM, "Synthesis", kind="notice", opens_turn=True)
    assert next_step(conversation).kind == "brief"
    say(conversation, Role.TECHNICAL, "brief", kind="brief", brief={"positive_prompt": "x"})
    step = next_step(conversation)
    assert step.kind == "advance" and step.to_phase == Phase.REVIEW


def test_a_pause_stops_the_turn(conversation):
    say(conversation, Role.USER, "idea")
    say(conversation, Role.SYSTEM, "paused", kind="notice", opens_turn=True, pauses=True)
    assert next_step(conversation) is None


def test_generating_waits(conversation):
    say(conversation, Role.USER, "idea")
    put_in_phase(conversation, Phase.GENERATING)
    say(conversation, Role.SYSTEM, "gen", kind="generation")
    assert next_step(conversation) is None


def test_lens_reviews_a_finished_result(conversation):
    put_in_phase(conversation, Phase.COMPLETE)
    say(conversation, Role.SYSTEM, "ready", kind="result", opens_turn=True)
    step = next_step(conversation)
    assert step.kind == "review" and step.speakers == (Role.CRITIC,)


# ---- the composer's cue: whose turn it is ----------------------------------------------------------------------
def cue(conversation):
    from specialists.services.turns import turn_cue

    return turn_cue(conversation)


def test_the_cue_says_it_is_the_artists_turn_after_a_round_and_offers_the_next_phase(conversation):
    say(conversation, Role.USER, "idea")
    assert cue(conversation).text == ""  # the team is about to answer
    for role in (Role.STYLE, Role.COMPOSITION, Role.STORY):
        say(conversation, role)
    waiting = cue(conversation)
    assert waiting.text == "Your turn — reply to the team, or move on to Refinement."
    assert waiting.advance_to == "Refinement"


def test_the_cue_is_quiet_while_someone_is_talking_or_the_team_will_go_on(conversation):
    say(conversation, Role.USER, "idea")
    say(conversation, Role.STYLE, "moody", status=Message.Status.STREAMING)
    assert cue(conversation).text == ""
    conversation.round = 2
    conversation.save()
    say(conversation, Role.USER, "more")
    for role in (Role.STYLE, Role.COMPOSITION, Role.STORY):
        say(conversation, role)
    assert cue(conversation).text == ""  # the last round: the studio moves on by itself


def test_the_cue_says_how_to_go_on_after_a_pause_or_a_failed_reply(conversation):
    say(conversation, Role.USER, "idea")
    say(conversation, Role.STYLE, "", status=Message.Status.FAILED)
    assert cue(conversation).text == "A reply failed: press Try again on it, or send a message."
    say(conversation, Role.SYSTEM, "paused", kind="notice", opens_turn=True, pauses=True)
    paused = cue(conversation)
    assert paused.text.startswith("You paused the team.") and paused.advance_to == ""


@pytest.mark.parametrize(
    "phase, said",
    [
        (Phase.REVIEW, "Your turn — say what to change, or press Generate on the brief"),
        (Phase.GENERATING, "The picture is being made"),
        (Phase.COMPLETE, "Your turn — ask for changes"),
    ],
)
def test_the_cue_after_the_brief_says_what_the_artist_can_do_there(conversation, phase, said):
    say(conversation, Role.USER, "idea")
    put_in_phase(conversation, phase)
    say(conversation, Role.USER, "hm")
    if phase == Phase.REVIEW:
        say(conversation, Role.CRITIC)
    waiting = cue(conversation)
    assert waiting.text.startswith(said) and waiting.advance_to == ""


def test_an_empty_session_asks_for_the_idea(conversation):
    assert cue(conversation).text == "Your turn — tell the team your idea."


def test_a_direct_question_to_one_specialist_is_answered_by_them_alone(conversation):
    say(conversation, Role.USER, "a lighthouse at dusk")
    for role in (Role.STYLE, Role.COMPOSITION, Role.STORY):
        say(conversation, role)
    question = say(conversation, Role.USER, "Frame, where should the horizon sit?")
    step = next_step(conversation)
    assert (step.kind, step.speakers, step.anchor_id) == ("speak", (Role.COMPOSITION,), question.pk)
    say(conversation, Role.COMPOSITION, "Low, in the bottom third.")
    assert next_step(conversation) is None


def test_a_specialist_named_first_answers_first_and_the_round_follows(conversation):
    say(conversation, Role.USER, "idea")
    for role in (Role.STYLE, Role.COMPOSITION, Role.STORY):
        say(conversation, role)
    say(conversation, Role.USER, "Saga, give the keeper a secret.")
    first = next_step(conversation)
    assert first.speakers == (Role.STORY,) and not first.independent
    say(conversation, Role.STORY, "She writes letters to ships.")
    assert next_step(conversation).speakers == (Role.STYLE, Role.COMPOSITION)


def test_a_specialist_outside_the_phase_answers_when_asked(conversation):
    say(conversation, Role.USER, "@Pixel which checkpoint suits ink drawings?")
    assert next_step(conversation).speakers == (Role.TECHNICAL,)


def test_a_muted_specialist_sits_out_the_round_unless_named(conversation):
    conversation.session.settings = {"muted": [Role.STORY]}
    conversation.session.save()
    say(conversation, Role.USER, "idea")
    assert next_step(conversation).speakers == (Role.STYLE, Role.COMPOSITION)
    for role in (Role.STYLE, Role.COMPOSITION):
        say(conversation, role)
    assert next_step(conversation) is None
    say(conversation, Role.USER, "Saga, what happened here?")
    assert next_step(conversation).speakers == (Role.STORY,)


def test_muting_does_not_stop_pixels_brief(conversation):
    conversation.session.settings = {"muted": [Role.TECHNICAL]}
    conversation.session.save()
    put_in_phase(conversation, Phase.SYNTHESIS)
    say(conversation, Role.USER, "go", opens_turn=True)
    assert next_step(conversation).kind == "brief"


def test_with_auto_continue_a_finished_round_moves_on_by_itself(conversation):
    conversation.session.settings = {"auto_continue": True}
    conversation.session.save()
    say(conversation, Role.USER, "idea")
    for role in (Role.STYLE, Role.COMPOSITION, Role.STORY):
        say(conversation, role)
    step = next_step(conversation)
    assert step.kind == "advance" and step.to_phase == Phase.REFINEMENT


def test_auto_continue_still_waits_after_a_direct_question(conversation):
    conversation.session.settings = {"auto_continue": True}
    conversation.session.save()
    say(conversation, Role.USER, "Luna, warmer or cooler?")
    say(conversation, Role.STYLE, "Warmer.")
    assert next_step(conversation) is None
