from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from specialists.models import Conversation, Message, Role
from studio.core.models import Session

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finished_conversation(alice):
    session = Session.objects.create(owner=alice, title="Fox")
    conversation = Conversation.objects.create(session=session)
    conversation.append_message(Role.USER, "a fox in the snow")
    for role in (Role.STYLE, Role.COMPOSITION, Role.STORY):
        conversation.append_message(role, f"old reply from {role}", metadata={"model": "old-model"})
    return conversation


def replay(*args) -> str:
    out = StringIO()
    call_command("replay_conversation", *args, stdout=out)
    return out.getvalue()


def test_it_replays_the_user_messages_into_a_new_conversation(finished_conversation, fake_ollama):
    output = replay(str(finished_conversation.pk), "--model", "style=qwen2.5:7b")
    replayed = Conversation.objects.exclude(pk=finished_conversation.pk).get()
    assert replayed.replayed_from == finished_conversation
    assert replayed.session == finished_conversation.session
    messages = list(replayed.messages.order_by("order"))
    assert [m.role for m in messages] == [Role.USER, Role.STYLE, Role.COMPOSITION, Role.STORY]
    assert messages[0].content == "a fox in the snow"
    assert all(m.status == Message.Status.COMPLETE for m in messages)
    assert messages[1].metadata["model"] == "qwen2.5:7b"
    assert messages[2].metadata["model"] == "llama3.2"
    assert "[1/1] artist: a fox in the snow" in output
    assert "Luna: complete (qwen2.5:7b" in output
    # The original is untouched.
    assert finished_conversation.messages.count() == 4
    assert finished_conversation.messages.get(role=Role.STYLE).content == "old reply from style"


def test_it_refuses_an_unknown_role(finished_conversation):
    with pytest.raises(CommandError, match="ROLE=MODEL"):
        replay(str(finished_conversation.pk), "--model", "painter=llama3.2")


def test_it_refuses_a_missing_conversation(db):
    with pytest.raises(CommandError, match="does not exist"):
        replay("424242")
