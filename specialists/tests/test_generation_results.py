import pytest

from generations.models import Generation
from generations.signals import generation_finished
from specialists.models import Conversation, Message, Phase, Role
from tests.fixtures.conversations import add_card


@pytest.fixture
def generating(alice_session):
    conversation = Conversation.objects.create(session=alice_session, phase=Phase.GENERATING)
    generation = Generation.objects.create(session=alice_session)
    add_card(conversation, generation)
    return conversation, generation


def finish(generation, status, error=""):
    Generation.objects.filter(pk=generation.pk).update(status=status, error=error)
    generation.refresh_from_db()
    generation_finished.send(sender=Generation, generation=generation)


def last_message(conversation):
    return Message.objects.filter(conversation=conversation).order_by("-order").first()


def test_a_finished_image_completes_the_conversation_and_asks_lens(generating):
    conversation, generation = generating
    finish(generation, "complete")
    conversation.refresh_from_db()
    assert conversation.phase == Phase.COMPLETE
    notice = last_message(conversation)
    assert notice.role == Role.SYSTEM and notice.opens_turn and notice.kind == "result"
    from specialists.services.turns import next_step

    assert next_step(conversation).speakers == (Role.CRITIC,)


def test_a_failed_generation_returns_to_review_with_the_reason(generating):
    conversation, generation = generating
    finish(generation, "failed", "checkpoint x.safetensors is not installed in ComfyUI (installed: a)")
    conversation.refresh_from_db()
    assert conversation.phase == Phase.REVIEW
    notice = last_message(conversation)
    assert "x.safetensors is not installed" in notice.content
    assert not notice.opens_turn


def test_a_failure_while_another_generation_runs_keeps_generating(generating):
    conversation, generation = generating
    add_card(conversation, Generation.objects.create(session=conversation.session, status="running"))
    finish(generation, "cancelled")
    conversation.refresh_from_db()
    assert conversation.phase == Phase.GENERATING
    assert "cancelled" in last_message(conversation).content


def test_the_result_notice_is_shown_as_a_notice(generating):
    from specialists.services.chat_html import render_message

    conversation, generation = generating
    finish(generation, "complete")
    html = render_message(last_message(conversation))
    assert 'class="msg msg-system msg-notice' in html and "is ready — Lens is taking a look" in html
