import html
import json
import re

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from specialists.models import Conversation, Message, Role
from studio.core.models import Session
from tests import frames as wire
from tests.fixtures.conversations import card_of, messages_of, settle, stored_when
from tests.fixtures.generations import finished_generations, session_in_review
from tests.fixtures.websockets import ChatView

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def make_session(user, idea=None):
    session = Session.objects.create(owner=user, title="Fox")
    conversation = Conversation.objects.create(session=session)
    if idea:
        conversation.append_message(Role.USER, idea)
    return session


async def test_it_rejects_another_users_session(open_socket, alice, bob):
    session = await make_session(alice)
    socket = await open_socket(bob, session.pk, expect_accept=False)
    assert socket.close_code == 4404


async def test_it_refuses_an_anonymous_socket(open_socket, alice):
    session = await make_session(alice)
    socket = await open_socket(None, session.pk, expect_accept=False)
    assert socket.close_code == 4401


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://localhost:8188",  # ComfyUI's own port on the same machine
        "http://localhost:3000",
        "https://localhost:8000",  # another scheme
        "http://localhost",
        "null",
    ],
)
async def test_it_refuses_an_origin_that_is_not_the_studios_own(open_socket, alice, origin):
    session = await make_session(alice)
    socket = await open_socket(alice, session.pk, origin=origin, expect_accept=False)
    assert socket.close_code is not None  # refused (an accepted socket has no close code)
    assert await socket.receive_nothing(timeout=0.1)  # and it never got the conversation
    assert await messages_of(session) == []


async def test_it_accepts_an_origin_listed_in_csrf_trusted_origins(open_socket, alice, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://studio.example.org"]
    session = await make_session(alice)
    socket = await open_socket(alice, session.pk, origin="https://studio.example.org")
    assert socket.close_code is None
    await socket.disconnect()


async def test_it_sends_the_whole_history_on_connect(open_socket, alice):
    session = await make_session(alice)

    @sync_to_async
    def seed():
        conversation = Conversation.objects.current(session)
        conversation.append_message(Role.USER, "a fox")
        conversation.append_message(Role.STYLE, "<b>amber</b> light")

    await seed()
    socket = await open_socket(alice, session.pk)
    view = ChatView()
    await view.drain(socket, until=lambda v: len(v.bodies) == 2)
    assert list(view.bodies.values()) == ["a fox", "<b>amber</b> light"]
    assert "&lt;b&gt;amber&lt;/b&gt;" in view.frames[0]
    await socket.disconnect()


@pytest.mark.parametrize(
    "text, reason",
    [
        ("   ", "Type a message first"),
        ("x" * 41, "the limit is 40"),
        ("a fox \ud800 in snow", "broken character"),  # a lone surrogate: cannot be encoded, let alone stored
        ("a fox\x00", "NUL character"),
    ],
)
async def test_it_rejects_bad_messages_with_a_clear_error_and_stores_nothing(open_socket, alice, text, reason):
    session = await make_session(alice)
    socket = await open_socket(alice, session.pk)
    view = ChatView()
    await view.opened(socket)
    with override_settings(MESSAGE_MAX_CHARS=40):
        await socket.send_json_to({"action": "message", "text": text})
        await view.drain(socket, until=lambda v: any("composer-error" in f and reason in f for f in v.frames))
    assert await messages_of(session) == []
    await socket.disconnect()


def alerts_of(view) -> list[str]:
    return [html.unescape(f) for f in view.frames if "composer-error" in f]


def padded(action: str, size: int) -> str:
    """A JSON frame of exactly ``size`` characters."""
    bare = json.dumps({"action": action, "pad": ""})
    return json.dumps({"action": action, "pad": "x" * (size - len(bare))})


async def test_it_rejects_malformed_frames(open_socket, alice, fake_ollama):
    from specialists.consumers import MAX_FRAME_BYTES, NOT_TEXT, TOO_LARGE, UNKNOWN_ACTION, UNREADABLE

    session = await make_session(alice)
    socket = await open_socket(alice, session.pk)
    view = ChatView()
    await view.opened(socket)
    await socket.send_to(text_data="{not json")
    await socket.send_json_to(["a", "list"])
    await socket.send_json_to({"action": "drop-tables"})
    await socket.send_to(bytes_data=b"\x00\x01")
    await socket.send_to(text_data=padded("drop-tables", MAX_FRAME_BYTES))  # the largest frame read
    await socket.send_to(text_data=padded("message", MAX_FRAME_BYTES + 1))  # one character more: not read
    await view.drain(socket, until=lambda v: len(alerts_of(v)) >= 6)
    expected = [UNREADABLE, UNREADABLE, UNKNOWN_ACTION, NOT_TEXT, UNKNOWN_ACTION, TOO_LARGE]
    assert [next((a for a in expected if a in alert), alert) for alert in alerts_of(view)] == expected
    assert await messages_of(session) == []
    # The socket is still open and works.
    await socket.send_json_to({"action": "message", "text": "a fox after all"})
    await view.drain(socket, until=lambda v: "a fox after all" in v.bodies.values())
    await socket.disconnect()
    await settle(session)


async def test_a_bug_in_an_action_is_reported_and_the_socket_stays_open(open_socket, alice, fake_ollama, monkeypatch):
    from specialists.consumers import INTERNAL_ERROR
    from specialists.services import actions

    async def broken(session, where):
        raise RuntimeError("a bug")

    monkeypatch.setattr(actions, "move", broken)
    session = await make_session(alice)
    socket = await open_socket(alice, session.pk)
    view = ChatView()
    await view.opened(socket)
    await socket.send_json_to({"action": "advance"})
    await view.drain(socket, until=lambda v: alerts_of(v))
    assert INTERNAL_ERROR in alerts_of(view)[0]
    await socket.send_json_to({"action": "message", "text": "a fox after all"})
    await view.drain(socket, until=lambda v: "a fox after all" in v.bodies.values())
    await socket.disconnect()
    await settle(session)


async def round_heard(session, speakers: int = 3) -> list[Message]:
    """The messages once the artist's last words have all ``speakers`` answering, settled."""

    def heard(stored) -> bool:
        users = [i for i, m in enumerate(stored) if m.role == Role.USER]
        after = stored[users[-1] + 1 :] if users else []
        return len(after) >= speakers and all(m.status != Message.Status.STREAMING for m in after)

    return await stored_when(session, heard)


async def heard_out(open_socket, user, idea: str = "a fox in the snow"):
    """The artist says ``idea`` and the team's round ends: the socket, what it showed, what is stored."""
    session = await make_session(user)
    socket = await open_socket(user, session.pk)
    view = ChatView()
    await view.opened(socket)
    await socket.send_json_to({"action": "message", "text": idea})
    stored = await round_heard(session)
    await view.caught_up(socket, stored)
    return socket, view, stored


async def test_it_streams_every_token_to_the_browser_and_stores_the_reply(open_socket, alice, fake_ollama):
    socket, view, stored = await heard_out(open_socket, alice)
    assert [m.role for m in stored] == [Role.USER, Role.STYLE, Role.COMPOSITION, Role.STORY]
    assert all(m.status == Message.Status.COMPLETE for m in stored)
    for message in stored[1:]:
        assert message.content, "a specialist said nothing"
        assert view.bodies[message.pk] == message.content
        view.assert_grew_cleanly(message.pk, message.content)
    token_frames = [f for f in view.frames if "beforeend:#message-" in f and "-body" in f]
    assert len(token_frames) > 3, "tokens were not streamed one by one"
    await socket.disconnect()


async def test_when_the_round_ends_the_composer_says_it_is_the_artists_turn_and_offers_the_next_phase(
    open_socket, alice, fake_ollama
):
    socket, view, stored = await heard_out(open_socket, alice)
    cue = "Your turn — reply to the team, or move on to Refinement."

    def cues(v) -> list[str]:
        return [f for f in v.frames if 'id="turn-cue"' in f]

    await view.drain(socket, until=lambda v: any(cue in f for f in cues(v)))
    shown = [f for f in cues(view) if cue in f][-1]
    assert 'role="status"' in shown and '"action": "advance"' in shown and "Move on to Refinement ›" in shown
    # While the team talked, the cue was quiet: it never told the artist to speak over a reply.
    first_reply = next(i for i, f in enumerate(view.frames) if f"message-{stored[1].pk}" in f)
    assert all(cue not in f for f in view.frames[:first_reply])
    assert any('class="turn-cue"' in f for f in cues(view))
    await socket.disconnect()


async def test_it_streams_model_text_with_markup_as_escaped_text(open_socket, alice, fake_ollama):
    hostile = '<img src=x onerror="alert(1)"> amber & <script>fetch("/x")</script> light'
    fake_ollama.responder = lambda body: hostile
    socket, view, stored = await heard_out(open_socket, alice)
    for message in stored[1:]:
        assert message.content == hostile
        assert view.bodies[message.pk] == hostile  # what the reader sees is the text, not markup
    token_frames = [f for f in view.frames if "beforeend:#message-" in f]
    assert len(token_frames) > 3
    live_markup = re.compile(r"<(img|script)\b|<[^>]*\son\w+=", re.I)
    assert not any(live_markup.search(frame) for frame in view.frames)
    await socket.disconnect()


async def test_a_reconnect_mid_stream_shows_everything_once(open_socket, alice, fake_ollama):
    fake_ollama.token_delay = 0.03
    session = await make_session(alice, idea="a fox in the snow")
    first = await open_socket(alice, session.pk)
    early = ChatView()
    await early.drain(first, until=lambda v: any(len(b) > 10 for i, b in v.bodies.items() if i != min(v.bodies)))
    await first.disconnect()
    second = await open_socket(alice, session.pk)
    fake_ollama.token_delay = 0  # the second socket joined mid-stream; the rest need not be slow
    late = ChatView()
    await settle(session)
    stored = await messages_of(session)
    await late.caught_up(second, stored)
    assert [m.status for m in stored] == [Message.Status.COMPLETE] * 4
    assert late.order == [m.pk for m in stored]
    for message in stored:
        assert late.bodies[message.pk] == message.content  # nothing lost, nothing doubled
        late.assert_grew_cleanly(message.pk, message.content)  # not even for a moment
        early.assert_grew_cleanly(message.pk, message.content)
    await second.disconnect()


def consumer_that_records():
    """A consumer on no socket: what it would send goes to a list."""
    from specialists.consumers import StudioConsumer

    consumer = StudioConsumer()
    sent: list[str] = []

    async def send(text_data=None, bytes_data=None, close=False):
        sent.append(text_data)

    consumer.send = send
    return consumer, sent


async def test_the_consumer_forwards_each_character_of_a_reply_once_however_the_events_overlap():
    consumer, sent = consumer_that_records()
    consumer.shown = {7: 5}  # this client already shows "Hello"
    for message_id, offset, text in [
        (7, 0, "Hello"),  # all of it shown already
        (7, 3, "lo wor"),  # overlaps what is shown: only " wor" is new
        (7, 9, "ld"),  # carries on
        (7, 9, "ld"),  # the same event again (a redelivery)
        (8, 0, "other"),  # a bubble this client does not show yet: its bubble will carry the text
    ]:
        await consumer.studio_token({"message_id": message_id, "offset": offset, "text": text})
    appended = [text for frame in sent for _, text in wire.tokens(frame)]
    assert appended == [" wor", "ld"]
    assert consumer.shown == {7: 11}


async def test_a_token_after_a_gap_resends_the_whole_body_from_the_live_buffer():
    from specialists.services.live import live

    consumer, sent = consumer_that_records()
    consumer.shown = {7: 5}  # this client shows "Hello"; the events for ", wor" never reached it
    await live().append(7, "Hello, world")
    await consumer.studio_token({"message_id": 7, "offset": 10, "text": "ld"})
    assert [list(wire.bodies(frame)) for frame in sent] == [[(7, "Hello, world")]]
    assert [list(wire.tokens(frame)) for frame in sent] == [[]]
    assert consumer.shown == {7: 12}
    await consumer.studio_token({"message_id": 7, "offset": 10, "text": "ld"})  # now already shown
    assert len(sent) == 1


async def test_a_bubble_says_how_much_text_it_carries_and_only_a_settled_one_replaces_it():
    consumer, sent = consumer_that_records()
    consumer.shown = {}
    await consumer.studio_bubble({"message_id": 7, "html": "<new bubble>", "length": 5})
    await consumer.studio_bubble({"message_id": 7, "html": "<new bubble again>", "length": 5})  # already shown
    assert sent == ["<new bubble>"] and consumer.shown == {7: 5}
    await consumer.studio_token({"message_id": 7, "offset": 0, "text": "Hello world"})
    assert [list(wire.tokens(frame)) for frame in sent[1:]] == [[(7, " world")]]
    await consumer.studio_bubble({"message_id": 7, "html": "<new bubble>", "replace": "<settled>", "length": 11})
    assert sent[-1] == "<settled>" and consumer.shown == {7: 11}
    await consumer.studio_bubble({"message_id": 8, "html": "<no length>"})
    assert consumer.shown == {7: 11, 8: 0}


async def test_a_message_event_shows_a_streaming_reply_as_far_as_the_live_buffer_goes(alice):
    from specialists.services.live import live

    session = await make_session(alice, idea="a fox in the snow")
    reply = await sync_to_async(
        lambda: Conversation.objects.current(session).append_message(Role.STYLE, status=Message.Status.STREAMING)
    )()
    await live().append(reply.pk, "Amber light, a <low> camera")
    consumer, sent = consumer_that_records()
    consumer.shown = {}
    await consumer.studio_message({"message_id": reply.pk})
    assert [m for m, *_ in wire.articles(sent[0])] == [reply.pk]
    assert dict(wire.bodies(sent[0]))[reply.pk] == "Amber light, a <low> camera"
    assert consumer.shown == {reply.pk: len("Amber light, a <low> camera")}
    await consumer.studio_message({"message_id": reply.pk + 1000})  # gone (a deleted session's): nothing sent
    assert len(sent) == 1


async def test_an_interjection_stops_the_speaker_and_keeps_its_partial_text(open_socket, alice, fake_ollama):
    fake_ollama.token_delay = 0.05
    session = await make_session(alice, idea="a fox in the snow")
    socket = await open_socket(alice, session.pk)
    view = ChatView()
    await view.drain(socket, until=lambda v: any(len(b) > 5 for i, b in v.bodies.items() if i != min(v.bodies)))
    await socket.send_json_to({"action": "message", "text": "actually, make it a wolf"})
    fake_ollama.token_delay = 0  # the team's answers to the interjection need not be slow
    await settle(session)
    stored = await messages_of(session)
    await view.caught_up(socket, stored)
    cut = stored[1]
    assert cut.role == Role.STYLE and cut.status == Message.Status.INTERRUPTED and cut.content
    interjection = stored[2]
    assert (interjection.role, interjection.content) == (Role.USER, "actually, make it a wolf")
    assert [m.role for m in stored[3:]] == [Role.STYLE, Role.COMPOSITION, Role.STORY]
    assert all(m.status == Message.Status.COMPLETE for m in stored[3:])
    assert view.bodies[cut.pk] == cut.content
    await socket.disconnect()


async def test_flooding_is_rate_limited_and_nothing_accepted_is_lost(open_socket, alice, fake_ollama):
    session = await make_session(alice)
    socket = await open_socket(alice, session.pk)
    view = ChatView()
    await view.opened(socket)
    with override_settings(ACTION_RATE_LIMIT=3):
        for n in range(6):
            await socket.send_json_to({"action": "message", "text": f"message {n}"})
        await view.drain(socket, until=lambda v: sum("more than 3 actions in a minute" in f for f in v.frames) == 3)
    await settle(session)
    stored = [m.content for m in await messages_of(session) if m.role == Role.USER]
    assert stored == ["message 0", "message 1", "message 2"]
    await socket.disconnect()


async def test_the_budget_is_the_sessions_whoever_spent_it_and_no_other_sessions(open_socket, alice, fake_ollama):
    from studio.core.services import action_limit

    spent, other = await make_session(alice), await make_session(alice)
    spent_socket, other_socket = await open_socket(alice, spent.pk), await open_socket(alice, other.pk)
    spent_view, other_view = ChatView(), ChatView()
    await spent_view.opened(spent_socket)
    await other_view.opened(other_socket)
    with override_settings(ACTION_RATE_LIMIT=1):
        await action_limit.aspend(spent.pk)  # by another tab, or a button's view
        await spent_socket.send_json_to({"action": "back"})
        await other_socket.send_json_to({"action": "back"})
        await spent_view.drain(spent_socket, until=lambda v: any("more than 1 action" in f for f in v.frames))
        await other_view.drain(other_socket, until=lambda v: any("already the first phase" in f for f in v.frames))
    assert not any("more than 1 action" in f for f in other_view.frames)
    await spent_socket.disconnect()
    await other_socket.disconnect()


@pytest.mark.parametrize("action", ["message", "advance", "back", "stop", "retry"])
async def test_every_action_counts_against_the_one_rate_limit_and_a_refused_one_stores_nothing(
    open_socket, alice, fake_ollama, action
):
    session = await make_session(alice)  # nothing for the team to answer: nothing changes unless an action does
    socket = await open_socket(alice, session.pk)
    view = ChatView()
    await view.opened(socket)
    before = [(m.pk, m.role, m.content, m.status) for m in await messages_of(session)]
    with override_settings(ACTION_RATE_LIMIT=2):
        for _ in range(2):  # spends the minute's budget and changes nothing: this is the first phase
            await socket.send_json_to({"action": "back"})
        for _ in range(5):
            await socket.send_json_to({"action": action, "text": "make it a wolf"})
        await view.drain(socket, until=lambda v: sum("more than 2 actions in a minute" in f for f in v.frames) == 5)
    assert sum("already the first phase" in f for f in view.frames) == 2
    await settle(session)
    assert [(m.pk, m.role, m.content, m.status) for m in await messages_of(session)] == before
    assert (await sync_to_async(lambda: Conversation.objects.current(session))()).phase == "ideation"
    await socket.disconnect()


async def test_the_artist_can_move_between_phases(open_socket, alice, fake_ollama):
    session = await make_session(alice)
    # Enough refinement rounds that the team does not move on by itself before the test looks.
    await sync_to_async(Session.objects.filter(pk=session.pk).update)(settings={"rounds": {"refinement": 5}})
    socket = await open_socket(alice, session.pk)
    view = ChatView()
    await view.opened(socket)
    await socket.send_json_to({"action": "back"})
    await view.drain(socket, until=lambda v: any("already the first phase" in f for f in v.frames))
    await socket.send_json_to({"action": "advance"})
    await view.drain(socket, until=lambda v: any('aria-current="step" data-phase="refinement"' in f for f in v.frames))
    conversation = await sync_to_async(lambda: Conversation.objects.current(session))()
    assert conversation.phase == "refinement"
    await settle(session)
    await socket.disconnect()


async def test_pause_stops_the_team_and_keeps_what_was_said(open_socket, alice, fake_ollama):
    fake_ollama.token_delay = 0.05
    session = await make_session(alice, idea="a fox in the snow")
    socket = await open_socket(alice, session.pk)
    view = ChatView()
    await view.drain(socket, until=lambda v: any(len(b) > 5 for i, b in v.bodies.items() if i != min(v.bodies)))
    await socket.send_json_to({"action": "stop", "text": "ignored"})
    await settle(session)
    stored = await messages_of(session)
    await view.caught_up(socket, stored)
    await view.drain(socket, until=lambda v: any("You paused the team" in f for f in v.frames))
    assert [m.role for m in stored] == [Role.USER, Role.STYLE, Role.SYSTEM]
    assert stored[1].status == Message.Status.INTERRUPTED and stored[1].content
    assert stored[2].pauses is True
    assert "You paused the team" in view.frames[-1] or any("You paused the team" in f for f in view.frames)
    await view.drain(
        socket, until=lambda v: any('id="pause-control"' in f and ">Resume</button>" in f for f in v.frames)
    )
    await socket.disconnect()


async def test_pause_is_idempotent_and_resume_lets_the_team_go_on(open_socket, alice, fake_ollama):
    fake_ollama.token_delay = 0.05
    session = await make_session(alice, idea="a fox in the snow")
    socket = await open_socket(alice, session.pk)
    view = ChatView()
    await view.drain(socket, until=lambda v: any(len(b) > 5 for i, b in v.bodies.items() if i != min(v.bodies)))
    for _ in range(3):
        await socket.send_json_to({"action": "stop"})
    await view.drain(socket, until=lambda v: sum("already paused" in f for f in v.frames) == 2)
    await settle(session)
    stored = await messages_of(session)
    assert [m.pauses for m in stored].count(True) == 1, "each Pause added a notice"

    fake_ollama.token_delay = 0
    await socket.send_json_to({"action": "resume"})
    await view.drain(
        socket, until=lambda v: any('id="pause-control"' in f and ">Pause</button>" in f for f in v.frames)
    )

    def answered_after_resuming(messages) -> list:
        resumed = [i for i, m in enumerate(messages) if m.content == "You let the team go on."]
        return messages[resumed[-1] + 1 :] if resumed else []

    def resumed_and_answered(messages) -> bool:
        after = answered_after_resuming(messages)
        return len(after) == 3 and all(m.status == Message.Status.COMPLETE for m in after)

    after = answered_after_resuming(await stored_when(session, resumed_and_answered))
    assert [m.role for m in after] == [Role.STYLE, Role.COMPOSITION, Role.STORY]
    await socket.send_json_to({"action": "resume"})
    await view.drain(socket, until=lambda v: any("The team is not paused." in f for f in v.frames))
    await socket.disconnect()


async def test_a_second_tab_sees_the_same_conversation(open_socket, alice, fake_ollama):
    session = await make_session(alice)
    first = await open_socket(alice, session.pk)
    second = await open_socket(alice, session.pk)
    one, two = ChatView(), ChatView()
    await one.drain(first)
    await two.drain(second)
    await first.send_json_to({"action": "message", "text": "a heron at dawn"})
    await settle(session)
    await one.drain(first)
    await two.drain(second)
    stored = await messages_of(session)
    assert len(stored) == 4
    for view in (one, two):
        assert view.order == [m.pk for m in stored]
        assert [view.bodies[m.pk] for m in stored] == [m.content for m in stored]
    await first.disconnect()
    await second.disconnect()


async def test_opening_a_session_resumes_a_generation_the_restarted_studio_had_queued(
    open_socket, alice, fake_comfyui, fake_ollama, settings
):
    from generations.models import Generation
    from generations.services.brief import normalize_brief
    from generations.services.catalog import get_catalog
    from generations.workflows import TEMPLATES

    settings.GENERATION_JOBS_IN_PROCESS = True  # the studio runs generations itself (no worker to recover them)
    session = await make_session(alice, "a fox")

    @sync_to_async
    def left_queued_by_the_previous_process():
        brief, _ = normalize_brief(
            {"positive_prompt": "a fox in snow", "width": 512, "height": 512, "steps": 3, "seed": 7}, get_catalog()
        )
        generation = Generation.objects.create(session=session, template="txt2img", kind="image", parameters=brief)
        generation.workflow = TEMPLATES["txt2img"](brief, prefix=f"t{generation.pk}")
        generation.save()
        return generation

    generation = await left_queued_by_the_previous_process()
    assert fake_comfyui.prompts == []
    socket = await open_socket(alice, session.pk)

    [resumed] = await finished_generations(session, 1, timeout=10)
    assert resumed.pk == generation.pk and resumed.status == Generation.Status.COMPLETE
    assert len(fake_comfyui.prompts) == 1
    await socket.disconnect()
    await settle(session)


async def test_saying_generate_starts_the_job_and_shows_its_card_after_the_words(
    open_socket, alice, fake_comfyui, fake_ollama, settings
):
    from generations.models import Generation

    settings.GENERATION_JOBS_IN_PROCESS = True
    brief = {"positive_prompt": "a fox in snow", "width": 512, "height": 512, "steps": 3, "seed": 7}
    session = await session_in_review(alice, brief)
    socket = await open_socket(alice, session.pk)
    await settle(session)  # Lens reviews the brief first
    view = ChatView()
    await view.opened(socket)
    await socket.send_json_to({"action": "message", "text": "generate"})

    [generation] = await finished_generations(session, 1, timeout=10)
    assert generation.status == Generation.Status.COMPLETE
    assert len(fake_comfyui.prompts) == 1
    card = await sync_to_async(card_of)(generation)
    await view.drain(socket, until=lambda v: card.pk in v.order)
    said = next(m for m in await messages_of(session) if m.role == Role.USER and m.content == "generate")
    assert view.order.index(said.pk) == view.order.index(card.pk) - 1
    await socket.disconnect()
    await settle(session)


@pytest.mark.parametrize(
    "brief, reason",
    [
        # refused while checking the brief
        ({"positive_prompt": "", "width": 512, "height": 512}, "no positive prompt"),
        # refused while building the workflow, inside the generation's transaction
        ({"positive_prompt": "a fox", "width": 512, "height": 512, "media_kind": "video"}, "svd_xt.safetensors"),
    ],
)
async def test_saying_generate_with_an_unusable_brief_keeps_the_words_and_says_why(
    open_socket, alice, fake_comfyui, fake_ollama, settings, brief, reason
):
    from generations.models import Generation

    settings.GENERATION_JOBS_IN_PROCESS = True
    fake_comfyui.set_checkpoints(["sd_xl_base_1.0.safetensors"])  # no Stable Video Diffusion
    session = await session_in_review(alice, brief)
    socket = await open_socket(alice, session.pk)
    await settle(session)  # Lens reviews the brief first
    view = ChatView()
    await view.opened(socket)
    before = await messages_of(session)
    await socket.send_json_to({"action": "message", "text": "generate"})
    await view.drain(socket, until=lambda v: any("Could not start the generation" in f for f in v.frames))
    alert = next(f for f in view.frames if "Could not start the generation" in f)
    assert reason in alert
    stored = await messages_of(session)
    assert stored[:-1] == before, "a card or notice of the refused generation was kept"
    assert stored[-1].role == Role.USER and stored[-1].content == "generate"
    assert await sync_to_async(Generation.objects.filter(session=session).count)() == 0
    phase = await sync_to_async(lambda: Conversation.objects.current(Session.objects.get(pk=session.pk)).phase)()
    assert phase == "review"
    await socket.disconnect()
    await settle(session)


@pytest.mark.parametrize("said", ["generate", "go ahead", "render it again please"])
async def test_saying_generate_after_a_result_renders_the_live_brief_again_instead_of_reopening_the_talk(
    open_socket, alice, fake_comfyui, fake_ollama, settings, said
):
    from generations.models import Generation
    from specialists.models import Phase
    from tests.fixtures.conversations import put_in_phase

    settings.GENERATION_JOBS_IN_PROCESS = True
    brief = {"positive_prompt": "a fox in snow", "width": 512, "height": 512, "steps": 3, "seed": 7}
    session = await session_in_review(alice, brief)
    conversation = await sync_to_async(lambda: Conversation.objects.current(Session.objects.get(pk=session.pk)))()
    await sync_to_async(put_in_phase)(conversation, Phase.COMPLETE)
    socket = await open_socket(alice, session.pk)
    await settle(session)
    view = ChatView()
    await view.opened(socket)
    await socket.send_json_to({"action": "message", "text": said})
    [generation] = await finished_generations(session, 1, timeout=10)
    assert (
        generation.status == Generation.Status.COMPLETE and generation.parameters["positive_prompt"] == "a fox in snow"
    )
    await settle(session)
    phase = await sync_to_async(lambda: Conversation.objects.get(pk=conversation.pk).phase)()
    assert phase != Phase.REFINEMENT, "saying generate sent the team back to refinement"
    await socket.disconnect()


async def test_saying_generate_before_there_is_a_brief_says_why_and_the_team_still_hears_it(
    open_socket, alice, fake_comfyui, fake_ollama
):
    from generations.models import Generation
    from specialists.services.actions import NO_BRIEF_YET

    socket, view, stored = await heard_out(open_socket, alice)
    await socket.send_json_to({"action": "message", "text": "Generate!"})
    await view.drain(socket, until=lambda v: any(html.escape(NO_BRIEF_YET, quote=False)[:60] in f for f in v.frames))
    answered = await round_heard(await sync_to_async(lambda: stored[0].conversation.session)())
    users = [m for m in answered if m.role == Role.USER]
    assert users[-1].content == "Generate!"
    assert await sync_to_async(Generation.objects.count)() == 0
    await socket.disconnect()


async def closed_after_alert(socket) -> tuple[list[str], int | None]:
    """Frames received up to the socket's close, and its close code. The browser's side of the close follows,
    as daphne would send it: the consumer leaves its groups and ends (a consumer left subscribed on Redis
    holds the test loop's teardown)."""
    frames = []
    while True:
        output = await socket.receive_output(timeout=10)
        if output["type"] == "websocket.close":
            await socket.disconnect(code=output.get("code") or 1000, timeout=10)
            return frames, output.get("code")
        frames.append(output.get("text", ""))


@sync_to_async
def sign_out_over_http(session_key: str) -> int:
    from django.conf import settings as django_settings
    from django.test import Client

    client = Client()
    client.cookies[django_settings.SESSION_COOKIE_NAME] = session_key
    return client.post("/accounts/logout/").status_code


async def test_signing_out_closes_that_browsers_socket_and_no_other(open_socket, alice):
    from tests.fixtures.websockets import signed_in_session_key

    session = await make_session(alice)
    key = await sync_to_async(signed_in_session_key)(alice)
    this_browser = await open_socket(alice, session.pk, session_key=key)
    other_browser = await open_socket(alice, session.pk)
    await ChatView().drain(this_browser)
    await ChatView().drain(other_browser)
    assert await sign_out_over_http(key) == 302
    frames, code = await closed_after_alert(this_browser)
    assert code == 4401 and any("You are signed out" in f for f in frames)
    assert await other_browser.receive_nothing(timeout=0.5)
    await other_browser.disconnect()


async def test_deactivating_the_user_closes_all_their_sockets(open_socket, alice):
    session = await make_session(alice)
    sockets = [await open_socket(alice, session.pk) for _ in range(2)]
    for socket in sockets:
        await ChatView().drain(socket)
    alice.is_active = False
    await sync_to_async(alice.save)()
    for socket in sockets:
        frames, code = await closed_after_alert(socket)
        assert code == 4401 and any("You are signed out" in f for f in frames)


@pytest.mark.parametrize("how", ["sign-in deleted", "password changed", "session deleted"])
async def test_an_action_after_the_sign_in_ended_is_refused_and_stores_nothing(open_socket, alice, how):
    from django.contrib.sessions.models import Session as SignIn

    from tests.fixtures.websockets import signed_in_session_key

    session = await make_session(alice, idea="a fox")
    key = await sync_to_async(signed_in_session_key)(alice)
    socket = await open_socket(alice, session.pk, session_key=key)
    await ChatView().drain(socket)
    before = [m.pk for m in await messages_of(session)]
    if how == "sign-in deleted":  # signed out in a way no signal reports (an expired or cleared session)
        await sync_to_async(SignIn.objects.filter(session_key=key).delete)()
    elif how == "password changed":
        alice.set_password("a brand new password")
        await sync_to_async(alice.save)()
    else:
        await sync_to_async(Session.objects.filter(pk=session.pk).delete)()
    await socket.send_json_to({"action": "message", "text": "make it a wolf"})
    frames, code = await closed_after_alert(socket)
    expected = (4404, "This session was deleted") if how == "session deleted" else (4401, "You are signed out")
    assert code == expected[0] and any(expected[1] in f for f in frames)
    assert not [m for m in await messages_of(session) if m.pk not in before]


def _round_answered(messages) -> bool:
    return [m.role for m in messages if m.status == Message.Status.COMPLETE][-3:] == [
        Role.STYLE,
        Role.COMPOSITION,
        Role.STORY,
    ]


async def _answered_in_a_browser(open_socket, user):
    """A session whose idea the team answered, open in a browser: the session, its socket and view, and the
    stored messages."""
    session = await make_session(user, idea="a fox in the snow")
    socket = await open_socket(user, session.pk)
    view = ChatView()
    await view.opened(socket)
    return session, socket, view, await stored_when(session, _round_answered)


async def test_the_artist_edits_their_last_words_and_the_team_answers_the_new_ones(open_socket, alice, fake_ollama):
    session, socket, view, first = await _answered_in_a_browser(open_socket, alice)
    await socket.send_json_to({"action": "edit", "message": str(first[0].pk), "text": "a hare in the snow"})

    def answered_again(messages) -> bool:
        live = [m for m in messages if m.superseded_by_id is None]
        return len(messages) == 8 and len(live) == 4 and _round_answered(live)

    stored = await stored_when(session, answered_again)
    assert [m.superseded_by_id for m in stored[:4]] == [stored[4].pk] * 4
    assert stored[4].role == Role.USER and stored[4].content == "a hare in the snow"
    # The team heard the new words only, and every browser shows the old ones folded.
    heard = " ".join(str(r["json"]["messages"]) for r in fake_ollama.chat_requests()[-3:])
    assert "a hare in the snow" in heard and "a fox in the snow" not in heard
    await view.drain(socket, until=lambda v: sum("earlier take" in f for f in v.frames) >= 3)
    assert any(f'id="message-{first[0].pk}"' in f and ">edited<" in f for f in view.frames)
    # Editing words that were already replaced is refused, and nothing changes.
    await socket.send_json_to({"action": "edit", "message": str(first[0].pk), "text": "a bear"})
    await view.drain(socket, until=lambda v: any("Only your last message can be edited" in f for f in v.frames))
    assert len(await messages_of(session)) == len(stored)
    await socket.disconnect()


async def test_an_edit_that_does_not_say_which_words_is_refused_and_stores_nothing(open_socket, alice, fake_ollama):
    from specialists.services.reply_requests import NOT_EDITABLE

    session, socket, view, before = await _answered_in_a_browser(open_socket, alice)
    await socket.send_json_to({"action": "edit", "text": "a hare in the snow"})
    await view.drain(socket, until=lambda v: any(NOT_EDITABLE in alert for alert in alerts_of(v)))
    assert [(m.pk, m.content) for m in await messages_of(session)] == [(m.pk, m.content) for m in before]
    await socket.disconnect()


async def test_regenerate_folds_the_reply_and_the_specialist_answers_again(open_socket, alice, fake_ollama):
    session, socket, view, first = await _answered_in_a_browser(open_socket, alice)
    frame = first[2]
    await socket.send_json_to({"action": "retake", "message": str(frame.pk)})
    stored = await stored_when(session, lambda ms: len(ms) == 6 and ms[-1].status == Message.Status.COMPLETE)
    request, again = stored[4], stored[5]
    assert (request.kind, request.asks_id, again.role) == (Message.Kind.RETAKE, frame.pk, Role.COMPOSITION)
    assert stored[2].superseded_by_id == request.pk
    await view.drain(socket, until=lambda v: any("You asked Frame for another take." in f for f in v.frames))
    await socket.disconnect()


async def test_continue_has_the_specialist_go_on_from_a_cut_reply(open_socket, alice, fake_ollama):
    from tests.fakes.ollama import long_responder

    fake_ollama.responder = long_responder
    session, socket, view, first = await _answered_in_a_browser(open_socket, alice)
    luna = first[1]
    assert luna.metadata.get("cut") is True
    await view.drain(
        socket, until=lambda v: any(f'value="{luna.pk}"' in f and ">Continue</button>" in f for f in v.frames)
    )
    await socket.send_json_to({"action": "go_on", "message": str(luna.pk)})
    stored = await stored_when(session, lambda ms: len(ms) == 6 and ms[-1].status == Message.Status.COMPLETE)
    assert stored[4].kind == Message.Kind.GO_ON and stored[5].role == Role.STYLE
    asked = fake_ollama.chat_requests()[-1]["json"]["messages"][-1]["content"]
    assert "Go on from exactly there" in asked and luna.content.strip()[-40:] in asked
    assert stored[1].superseded_by_id is None
    await socket.send_json_to({"action": "go_on", "message": str(first[0].pk)})
    await view.drain(socket, until=lambda v: any("not a reply a specialist can take again" in f for f in v.frames))
    await socket.disconnect()


async def test_a_sent_message_gives_back_an_empty_composer_that_offers_pause(open_socket, alice, fake_ollama):
    session = await make_session(alice)
    socket = await open_socket(alice, session.pk)
    view = ChatView()
    await view.opened(socket)
    await socket.send_json_to({"action": "message", "text": "a heron at dawn"})

    def composers(v) -> list[str]:
        return [f for f in v.frames if f.startswith('<form id="composer"')]

    await view.drain(socket, until=lambda v: composers(v))
    composer = composers(view)[0]
    assert 'hx-swap-oob="outerHTML"' in composer  # it replaces the one on the page
    assert re.search(r'<textarea id="composer-text"[^>]*></textarea>', composer)  # the words left the box
    assert ">Pause</button>" in composer
    await settle(session)
    await socket.disconnect()


async def test_retry_has_the_team_answer_again_where_a_reply_failed(open_socket, alice, fake_ollama):
    session = await make_session(alice)

    @sync_to_async
    def failed_reply():
        conversation = Conversation.objects.current(session)
        conversation.append_message(Role.USER, "a lighthouse", opens_turn=True)
        return conversation.append_message(Role.STYLE, "", status=Message.Status.FAILED)

    failed = await failed_reply()
    socket = await open_socket(alice, session.pk)
    view = ChatView()
    await view.opened(socket)
    await socket.send_json_to({"action": "retry"})

    def answered(messages) -> bool:
        after = [m for m in messages if m.order > failed.order and m.kind == Message.Kind.CHAT]
        return len(after) == 3 and all(m.status == Message.Status.COMPLETE for m in after)

    stored = await stored_when(session, answered)
    await view.caught_up(socket, stored)
    await sync_to_async(failed.refresh_from_db)()
    assert failed.retried
    assert [m.role for m in stored if m.order > failed.order] == [Role.STYLE, Role.COMPOSITION, Role.STORY]
    assert view.order == [m.pk for m in stored if not (m.status == Message.Status.INTERRUPTED and not m.content)]
    await socket.disconnect()


async def test_an_action_after_another_conversation_began_shows_that_conversation_whole(
    open_socket, alice, fake_ollama
):
    session = await make_session(alice, idea="a fox in the snow")
    await settle(session)
    socket = await open_socket(alice, session.pk)
    view = ChatView()
    await view.opened(socket)
    first = await messages_of(session)

    @sync_to_async
    def begin_another():  # as a replay does, from another page
        conversation = Conversation.objects.create(session=session)
        conversation.append_message(Role.USER, "a wolf at night")
        return conversation

    replay = await begin_another()
    await socket.send_json_to({"action": "stop"})
    await view.drain(socket, until=lambda v: "a wolf at night" in v.bodies.values())
    assert not set(view.order) & {m.pk for m in first}  # the page shows the new conversation only
    await settle(session)
    stored = await sync_to_async(list)(replay.messages.order_by("order"))
    await view.caught_up(socket, stored)
    assert view.order == [m.pk for m in stored]
    await socket.disconnect()
