"""specialists/services/actions.py on its own: what each action stores, and the sentence a refusal says."""

import pytest
from asgiref.sync import sync_to_async

from generations.models import Generation
from specialists.models import Conversation, Message, Phase, RefineLoop, Role
from specialists.services import actions
from specialists.services.live import live
from specialists.services.turns import is_paused
from tests.fixtures.conversations import messages_of, put_in_phase, running_loop


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        (None, "Send your message as text."),
        (42, "Send your message as text."),
        ("", "Type a message first."),
        (" \n\t ", "Type a message first."),
        (
            "a fox\x00",
            "That message contains a NUL character, which the studio cannot store. Remove it and send again.",
        ),
        (
            "a fox \ud800 in snow",
            "That message contains a broken character (half of an emoji?) that cannot be stored. "
            "Retype that part and send again.",
        ),
        ("x" * 41, "That message is 41 characters; the limit is 40. Shorten it or split it in two."),
    ],
)
def test_it_refuses_what_cannot_be_stored_with_what_to_do(settings, text, refusal):
    settings.MESSAGE_MAX_CHARS = 40

    with pytest.raises(actions.Rejected) as refused:
        actions.validate_text(text)

    assert str(refused.value) == refusal


def test_the_limit_is_counted_after_trimming_and_said_with_thousands_separated(settings):
    settings.MESSAGE_MAX_CHARS = 1000

    assert actions.validate_text("  " + "x" * 1000 + "\n") == "x" * 1000
    with pytest.raises(actions.Rejected) as refused:
        actions.validate_text("x" * 1001)

    assert str(refused.value) == "That message is 1,001 characters; the limit is 1,000. Shorten it or split it in two."


@pytest.mark.parametrize(
    "said",
    [
        "generate",
        "Generate!",
        "please generate it",
        "render",
        "render it again please",
        "create it",
        "make it",
        "make it so",
        "go",
        "go ahead",
        "ship it",
        "let's go",
        "lets do it",
        "let's generate",
        "let's render",
        "do it",
        "looks good",
        "looks great, generate",
        "Looks right!! go",
        "  go ahead and make it",
    ],
)
def test_these_words_ask_for_the_picture(said):
    assert actions.GENERATE_INTENT.search(said)


@pytest.mark.parametrize(
    "said",
    [
        "a generated look, but softer",
        "the lighthouse should look good at night",
        "going further out to sea",
        "make the sky darker",
        "gogh-like brushwork",
        "doing it in ink would be nice",
        "I think we should render the waves sharper",
    ],
)
def test_these_words_are_ordinary_talk(said):
    assert not actions.GENERATE_INTENT.search(said)


@pytest.mark.parametrize(("said", "explicit"), [("generate", True), ("please render", True), ("go ahead", False)])
def test_only_generate_or_render_ask_for_it_outside_the_brief_phases(said, explicit):
    assert bool(actions.EXPLICIT_GENERATE.search(said)) is explicit


with_database = pytest.mark.django_db(transaction=True)


@with_database
async def test_talking_stores_the_trimmed_words_and_stops_whoever_is_talking(alice, alice_session):
    posted = await actions.post_message(alice_session, alice, "  a lighthouse at dusk \n")

    stored = await messages_of(alice_session)
    assert [(m.role, m.content) for m in stored] == [(Role.USER, "a lighthouse at dusk")]
    assert posted.message.pk == stored[0].pk and posted.refusal == "" and not posted.was_paused
    assert await live().get_interrupt(posted.message.conversation_id) == posted.message.pk


@with_database
async def test_asking_to_generate_before_a_brief_keeps_the_words_and_says_why(alice, alice_session):
    posted = await actions.post_message(alice_session, alice, "generate")

    assert posted.refusal == actions.NO_BRIEF_YET
    assert posted.generation_message_id is None
    assert [m.content for m in await messages_of(alice_session)] == ["generate"]


@with_database
async def test_go_ahead_before_a_brief_is_just_talk(alice, alice_session):
    posted = await actions.post_message(alice_session, alice, "go ahead")

    assert posted.refusal == ""


@with_database
async def test_talking_to_a_paused_team_lets_it_go_on(alice, alice_session):
    await actions.pause(alice_session)

    posted = await actions.post_message(alice_session, alice, "carry on")

    conversation = await sync_to_async(Conversation.objects.current)(alice_session)
    assert posted.was_paused and not await sync_to_async(is_paused)(conversation)


@with_database
@pytest.mark.parametrize(
    ("phase", "direction", "refusal"),
    [
        (Phase.COMPLETE, "advance", "From here, press Generate on the brief (or say “generate”)."),
        (Phase.IDEATION, "back", "This is already the first phase."),
    ],
)
async def test_a_step_that_leads_nowhere_is_refused_with_what_to_do(alice_session, phase, direction, refusal):
    conversation = await sync_to_async(Conversation.objects.current)(alice_session)
    await sync_to_async(put_in_phase)(conversation, phase)

    with pytest.raises(actions.Rejected) as refused:
        await actions.move(alice_session, direction)

    assert str(refused.value) == refusal
    await sync_to_async(conversation.refresh_from_db)()
    assert conversation.phase == phase


@with_database
async def test_pausing_twice_leaves_one_notice_and_says_so(alice_session):
    await actions.pause(alice_session)

    with pytest.raises(actions.Rejected) as refused:
        await actions.pause(alice_session)

    assert str(refused.value) == "The team is already paused. Send a message, or press Resume, to go on."
    notices = [m for m in await messages_of(alice_session) if m.kind == Message.Kind.NOTICE]
    assert [(n.content, n.pauses) for n in notices] == [
        ("You paused the team. Send a message, or press Resume, to go on.", True)
    ]
    assert await live().get_interrupt(notices[0].conversation_id) == notices[0].pk


@with_database
async def test_resuming_lets_the_team_go_on_once(alice_session):
    with pytest.raises(actions.Rejected) as refused:
        await actions.resume(alice_session)
    assert str(refused.value) == "The team is not paused."

    await actions.pause(alice_session)
    await actions.resume(alice_session)

    notices = [m for m in await messages_of(alice_session) if m.kind == Message.Kind.NOTICE]
    assert [(n.content, n.pauses) for n in notices][-1] == ("You let the team go on.", False)
    conversation = await sync_to_async(Conversation.objects.current)(alice_session)
    assert not await sync_to_async(is_paused)(conversation)


def _told_of(listener, message_ids: set[int]) -> set[int]:
    """The message ids the session's browsers were told of, read until each of ``message_ids`` was."""

    def announced(events) -> set[int]:
        return {event["message_id"] for event in events if event["type"] == "studio.message"}

    return announced(listener.drain(until=lambda events: message_ids <= announced(events), timeout=10))


@with_database
async def test_moving_on_stops_whoever_is_talking_and_opens_the_next_phase(alice_session):
    await actions.move(alice_session, "advance")

    conversation = await sync_to_async(Conversation.objects.current)(alice_session)
    notice = [m for m in await messages_of(alice_session) if m.kind == Message.Kind.NOTICE][-1]
    assert conversation.phase == Phase.REFINEMENT
    assert await live().get_interrupt(conversation.pk) == notice.pk


@with_database
async def test_pausing_and_resuming_tell_every_browser(alice_session, listener_for):
    listener = listener_for(alice_session.pk)

    await actions.pause(alice_session)
    await actions.resume(alice_session)

    notices = [m.pk for m in await messages_of(alice_session) if m.kind == Message.Kind.NOTICE]
    assert len(notices) == 2
    assert _told_of(listener, set(notices)) >= set(notices)


@with_database
async def test_a_failed_reply_is_tried_again_once_and_every_browser_sees_its_button_go(alice_session, listener_for):
    conversation = await sync_to_async(Conversation.objects.current)(alice_session)
    await sync_to_async(conversation.append_message)(Role.USER, "a lighthouse", opens_turn=True)
    failed = await sync_to_async(conversation.append_message)(Role.STYLE, "", status=Message.Status.FAILED)
    listener = listener_for(alice_session.pk)

    assert await actions.retry(alice_session) == 1
    assert await actions.retry(alice_session) == 0

    await sync_to_async(failed.refresh_from_db)()
    assert failed.retried
    assert failed.pk in _told_of(listener, {failed.pk})


@with_database
@pytest.mark.parametrize(
    ("phase", "said", "then", "changed"),
    [
        (Phase.REVIEW, "make the sky darker", Phase.SYNTHESIS, True),  # Pixel revises the brief
        (Phase.REVIEW, "Luna, is the teal right?", Phase.REVIEW, False),  # an aside to one specialist
        (Phase.GENERATING, "more fog", Phase.REFINEMENT, True),
        (Phase.COMPLETE, "more fog", Phase.REFINEMENT, True),
        (Phase.REFINEMENT, "more fog", Phase.REFINEMENT, False),
    ],
)
async def test_the_artists_words_take_the_conversation_where_they_point(
    alice, alice_session, phase, said, then, changed
):
    conversation = await sync_to_async(Conversation.objects.current)(alice_session)
    await sync_to_async(put_in_phase)(conversation, phase)

    posted = await actions.post_message(alice_session, alice, said)

    await sync_to_async(conversation.refresh_from_db)()
    assert (conversation.phase, posted.phase_changed) == (then, changed)


@with_database
async def test_a_new_round_opens_only_once_every_speaker_of_the_last_was_heard(alice, alice_session):
    from specialists.services.phases import plan_for

    conversation = await sync_to_async(Conversation.objects.current)(alice_session)
    await actions.post_message(alice_session, alice, "a lighthouse")
    await actions.post_message(alice_session, alice, "at dusk")  # an interjection: the same round
    await sync_to_async(conversation.refresh_from_db)()
    assert conversation.round == 1

    for role in plan_for(Phase.IDEATION, alice_session.settings).speakers:
        await sync_to_async(conversation.append_message)(role, f"{role} speaks")
    await actions.post_message(alice_session, alice, "now the keeper")

    await sync_to_async(conversation.refresh_from_db)()
    assert conversation.round == 2


@with_database
async def test_saying_generate_in_review_starts_the_live_brief_and_keeps_the_words(alice, fake_comfyui, settings):
    from tests.fixtures.generations import finished_generations, session_in_review

    settings.GENERATION_JOBS_IN_PROCESS = True
    brief = {"positive_prompt": "a fox in snow", "width": 512, "height": 512, "steps": 3, "seed": 7}
    session = await session_in_review(alice, brief)

    posted = await actions.post_message(session, alice, "looks good, generate")

    [generation] = await finished_generations(session, 1, timeout=30)
    card = await sync_to_async(Message.objects.get)(pk=posted.generation_message_id)
    assert posted.refusal == "" and card.generation_id == generation.pk
    assert generation.parameters["positive_prompt"] == "a fox in snow"
    assert generation.status == Generation.Status.COMPLETE
    assert posted.message.content == "looks good, generate"


@with_database
async def test_saying_generate_with_an_unusable_brief_keeps_the_words_and_says_why(alice, fake_comfyui):
    from tests.fixtures.generations import session_in_review

    session = await session_in_review(alice, {"positive_prompt": "", "width": 512, "height": 512})

    posted = await actions.post_message(session, alice, "generate")

    assert posted.refusal.startswith("Could not start the generation: ") and "positive prompt" in posted.refusal
    assert posted.generation_message_id is None
    assert not await sync_to_async(Generation.objects.filter(session=session).exists)()
    assert (await messages_of(session))[-1].content == "generate"


@with_database
async def test_replaying_words_never_starts_a_generation(alice, fake_comfyui):
    from tests.fixtures.generations import session_in_review

    session = await session_in_review(alice, {"positive_prompt": "a fox", "width": 512, "height": 512})

    posted = await actions.post_message(session, alice, "generate", replaying=True)

    assert posted.generation_message_id is None and posted.refusal == ""
    assert not await sync_to_async(Generation.objects.filter(session=session).exists)()


@with_database
async def test_an_edit_folds_the_old_words_and_their_answers_behind_the_new_ones_in_every_browser(
    alice, alice_session, listener_for
):
    first = (await actions.post_message(alice_session, alice, "a lighthouse")).message
    conversation = await sync_to_async(Conversation.objects.current)(alice_session)
    answer = await sync_to_async(conversation.append_message)(Role.STYLE, "teal and amber")
    listener = listener_for(alice_session.pk)

    posted = await actions.post_message(alice_session, alice, "a lighthouse in fog", replaces=str(first.pk))

    assert posted.folded == [first.pk, answer.pk]
    folded = [m for m in await messages_of(alice_session) if m.superseded_by_id == posted.message.pk]
    assert {m.pk for m in folded} == {first.pk, answer.pk}
    told = {first.pk, answer.pk, posted.message.pk}
    assert _told_of(listener, told) >= told


@with_database
async def test_the_artists_words_pause_an_auto_refine_loop_and_every_browser_sees_its_card_change(
    alice, alice_session, listener_for
):
    loop = await sync_to_async(running_loop)(alice_session)
    listener = listener_for(alice_session.pk)

    posted = await actions.post_message(alice_session, alice, "keep the storm, lose the boat")

    await sync_to_async(loop.refresh_from_db)()
    assert loop.status == RefineLoop.Status.PAUSED and posted.loop_card_id == loop.card_id
    told = {posted.message.pk, loop.card_id}
    assert _told_of(listener, told) >= told


@with_database
async def test_an_edit_of_words_that_are_not_the_last_is_refused_and_stores_nothing(alice, alice_session):
    from specialists.services.reply_requests import NOT_EDITABLE

    first = (await actions.post_message(alice_session, alice, "a lighthouse")).message
    await actions.post_message(alice_session, alice, "at dusk")
    before = await messages_of(alice_session)

    with pytest.raises(actions.Rejected) as refused:
        await actions.post_message(alice_session, alice, "a cat", replaces=first.pk)

    assert str(refused.value) == NOT_EDITABLE
    assert await messages_of(alice_session) == before


@with_database
@pytest.mark.parametrize("kind", ["go_on", "retake"])
async def test_asking_again_for_a_reply_that_is_not_there_is_refused(alice_session, kind):
    from specialists.services.reply_requests import NOT_A_REPLY

    with pytest.raises(actions.Rejected) as refused:
        await actions.request_reply(alice_session, kind, "12345")

    assert str(refused.value) == NOT_A_REPLY
    assert await messages_of(alice_session) == []


async def _talked(session, *, cut: bool = False) -> Message:
    conversation = await sync_to_async(Conversation.objects.current)(session)
    await sync_to_async(conversation.append_message)(Role.USER, "a lighthouse", opens_turn=True)
    metadata = {"cut": True} if cut else {}
    return await sync_to_async(conversation.append_message)(
        Role.STYLE, "teal and amber, and then", status=Message.Status.COMPLETE, metadata=metadata
    )


@with_database
async def test_another_take_folds_the_reply_stops_whoever_talks_and_tells_every_browser(alice_session, listener_for):
    reply = await _talked(alice_session)
    listener = listener_for(alice_session.pk)

    await actions.request_reply(alice_session, "retake", str(reply.pk))

    stored = await messages_of(alice_session)
    opening = stored[-1]
    assert (opening.kind, opening.content) == (Message.Kind.RETAKE, "You asked Luna for another take.")
    assert next(m for m in stored if m.pk == reply.pk).superseded_by_id == opening.pk
    assert await live().get_interrupt(opening.conversation_id) == opening.pk
    assert _told_of(listener, {reply.pk, opening.pk}) >= {reply.pk, opening.pk}


@with_database
async def test_going_on_from_a_cut_reply_asks_that_specialist_and_keeps_the_reply(alice_session, listener_for):
    reply = await _talked(alice_session, cut=True)
    listener = listener_for(alice_session.pk)

    await actions.request_reply(alice_session, "go_on", reply.pk)

    stored = await messages_of(alice_session)
    opening = stored[-1]
    assert (opening.kind, opening.content) == (Message.Kind.GO_ON, "You asked Luna to go on.")
    assert next(m for m in stored if m.pk == reply.pk).superseded_by_id is None
    assert await live().get_interrupt(opening.conversation_id) == opening.pk
    assert opening.pk in _told_of(listener, {opening.pk})


@with_database
async def test_going_on_from_a_reply_that_was_not_cut_is_refused(alice_session):
    from specialists.services.reply_requests import NOT_CUT

    reply = await _talked(alice_session)

    with pytest.raises(actions.Rejected) as refused:
        await actions.request_reply(alice_session, "go_on", reply.pk)

    assert str(refused.value) == NOT_CUT


@with_database
async def test_the_artists_words_reach_every_browser_with_what_they_folded_or_started(
    alice, fake_comfyui, settings, listener_for
):
    from tests.fixtures.generations import finished_generations, session_in_review

    settings.GENERATION_JOBS_IN_PROCESS = True
    brief = {"positive_prompt": "a fox in snow", "width": 512, "height": 512, "steps": 3, "seed": 7}
    session = await session_in_review(alice, brief)
    listener = listener_for(session.pk)

    said = await actions.post_message(session, alice, "generate")
    await finished_generations(session, 1, timeout=30)
    edited = await actions.post_message(session, alice, "make the sky darker")
    again = await actions.post_message(session, alice, "make the sky much darker", replaces=edited.message.pk)

    expected = {said.message.pk, said.generation_message_id, edited.message.pk, again.message.pk}
    assert _told_of(listener, expected) >= expected


@with_database
async def test_a_question_to_one_specialist_is_an_aside_within_the_round(alice, alice_session):
    from specialists.services.phases import plan_for

    conversation = await sync_to_async(Conversation.objects.current)(alice_session)
    speakers = plan_for(Phase.IDEATION, alice_session.settings).speakers
    await actions.post_message(alice_session, alice, "a lighthouse")
    for role in speakers[:-1]:
        await sync_to_async(conversation.append_message)(role, f"{role} speaks")
    await actions.post_message(alice_session, alice, "Luna, why teal?")
    await sync_to_async(conversation.append_message)(Role.STYLE, "because of the sea")
    await sync_to_async(conversation.append_message)(speakers[-1], "the last word of the round")

    await actions.post_message(alice_session, alice, "now the cat")

    await sync_to_async(conversation.refresh_from_db)()
    assert conversation.round == 2
