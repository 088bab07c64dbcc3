"""Going on from a cut reply, another take of a reply, and editing the artist's last words: what is allowed,
what each stores, and what the next turn is."""

import pytest

from generations.models import Generation
from specialists.models import Conversation, Message, Role
from specialists.services import reply_requests
from specialists.services.context import build_messages
from specialists.services.turns import next_step

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(alice_session):
    conversation = Conversation.objects.create(session=alice_session)
    conversation.append_message(Role.USER, "a lighthouse at dusk")
    return conversation


def reply(conversation, role=Role.STYLE, text="Amber light on the rocks.", *, cut=False, **columns):
    return conversation.append_message(role, text, metadata={"cut": True} if cut else {}, **columns)


def test_go_on_opens_a_turn_for_the_cut_replys_speaker_alone(conversation):
    luna = reply(conversation, cut=True)
    reply(conversation, Role.COMPOSITION)
    requested = reply_requests.go_on(conversation, str(luna.pk))
    assert requested.opening.kind == Message.Kind.GO_ON and requested.opening.asks == luna
    assert requested.opening.content == "You asked Luna to go on." and requested.folded == []
    step = next_step(conversation)
    assert (step.kind, step.speakers, step.anchor_id) == ("go_on", (Role.STYLE,), requested.opening.pk)
    reply(conversation, text="…and the sea beyond.")
    assert next_step(conversation) is None
    luna.refresh_from_db()
    assert luna.superseded_by is None, "going on keeps the cut reply"


def test_the_cue_to_go_on_quotes_where_the_reply_stopped(conversation):
    luna = reply(conversation, text="x" * 300 + " the last words before the cut", cut=True)
    opening = reply_requests.go_on(conversation, luna.pk).opening
    cue = reply_requests.go_on_cue(conversation, opening.pk)
    assert "the last words before the cut”" in cue and "x" * 200 not in cue
    assert "without repeating" in cue


def test_go_on_is_refused_for_a_reply_that_was_not_cut(conversation):
    luna = reply(conversation)
    with pytest.raises(reply_requests.RequestRefused, match="was not cut short"):
        reply_requests.go_on(conversation, luna.pk)
    assert conversation.messages.count() == 2


def test_retake_folds_the_old_reply_out_of_what_the_team_hears(conversation):
    luna = reply(conversation, text="Neon pink, please.")
    requested = reply_requests.retake(conversation, luna.pk)
    luna.refresh_from_db()
    assert luna.superseded_by == requested.opening and requested.folded == [luna.pk]
    assert requested.opening.content == "You asked Luna for another take."
    step = next_step(conversation)
    assert (step.kind, step.speakers) == ("speak", (Role.STYLE,))
    heard = " ".join(m["content"] for m in build_messages(conversation, Role.STYLE))
    assert "Neon pink" not in heard and "a lighthouse at dusk" in heard


@pytest.mark.parametrize("ask", [reply_requests.go_on, reply_requests.retake])
@pytest.mark.parametrize(
    "which",
    [
        "brief",
        "the artist's words",
        "a streaming reply",
        "a failed reply",
        "an earlier take",
        "unknown",
        "not a number",
    ],
)
def test_requests_on_anything_but_a_settled_specialist_reply_are_refused(conversation, ask, which):
    messages = {
        "brief": lambda: conversation.append_message(Role.TECHNICAL, "b", kind=Message.Kind.BRIEF, brief={}),
        "the artist's words": lambda: conversation.messages.get(role=Role.USER),
        "a streaming reply": lambda: reply(conversation, status=Message.Status.STREAMING),
        "a failed reply": lambda: reply(conversation, status=Message.Status.FAILED),
        "an earlier take": lambda: Message.objects.get(
            pk=reply_requests.retake(conversation, reply(conversation).pk).opening.asks_id
        ),
    }
    target = messages[which]().pk if which in messages else {"unknown": "999999", "not a number": "1;drop"}[which]
    before = conversation.messages.count()
    with pytest.raises(reply_requests.RequestRefused, match="not a reply a specialist can take again"):
        ask(conversation, target)
    assert conversation.messages.count() == before


def test_a_reply_from_before_the_artists_last_words_is_not_taken_again(conversation):
    luna = reply(conversation, cut=True)
    conversation.append_message(Role.USER, "make it winter")
    for ask in (reply_requests.go_on, reply_requests.retake):
        with pytest.raises(reply_requests.RequestRefused, match="since your last message"):
            ask(conversation, luna.pk)
    luna.refresh_from_db()
    assert luna.superseded_by is None


def test_a_reply_in_another_conversation_is_refused(conversation, alice_session):
    other = Conversation.objects.create(session=alice_session)
    other.append_message(Role.USER, "x")
    theirs = reply(other, cut=True)
    with pytest.raises(reply_requests.RequestRefused):
        reply_requests.retake(conversation, theirs.pk)


def test_the_artists_last_words_are_editable_until_something_is_rendered(conversation):
    first = conversation.messages.get(role=Role.USER)
    reply(conversation)
    assert reply_requests.editable(conversation, str(first.pk)) == first
    conversation.append_message(
        Role.SYSTEM,
        "",
        kind=Message.Kind.GENERATION,
        generation=Generation.objects.create(session=conversation.session),
    )
    with pytest.raises(reply_requests.RequestRefused, match="Only your last message"):
        reply_requests.editable(conversation, first.pk)


def test_only_the_last_of_the_artists_messages_is_editable(conversation):
    first = conversation.messages.get(role=Role.USER)
    second = conversation.append_message(Role.USER, "make it winter")
    with pytest.raises(reply_requests.RequestRefused):
        reply_requests.editable(conversation, first.pk)
    assert reply_requests.editable(conversation, second.pk) == second
    for wrong in (reply(conversation).pk, "x", ""):
        with pytest.raises(reply_requests.RequestRefused):
            reply_requests.editable(conversation, wrong)


def test_an_edit_folds_the_old_words_and_the_answers_to_them_but_not_a_brief(conversation):
    old = conversation.messages.get(role=Role.USER)
    luna, frame = reply(conversation), reply(conversation, Role.COMPOSITION)
    brief = conversation.append_message(Role.TECHNICAL, "b", kind=Message.Kind.BRIEF, brief={"positive_prompt": "x"})
    new = conversation.append_message(Role.USER, "a lighthouse at dawn")
    folded = reply_requests.fold_edited(conversation, old, new)
    assert sorted(folded) == sorted([old.pk, luna.pk, frame.pk])
    assert set(Message.objects.filter(superseded_by=new).values_list("pk", flat=True)) == set(folded)
    brief.refresh_from_db()
    assert brief.superseded_by is None
    heard = " ".join(m["content"] for m in build_messages(conversation, Role.STORY))
    assert "at dusk" not in heard and "at dawn" in heard
