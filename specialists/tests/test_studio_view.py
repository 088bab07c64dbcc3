import re

import pytest
from django.urls import reverse

from specialists.models import Conversation, Message, Role
from tests.fixtures.conversations import put_in_phase


def test_it_shows_the_conversation_with_escaped_model_text(alice_client, alice_session):
    conversation = Conversation.objects.current(alice_session)
    conversation.append_message(Role.USER, "a lighthouse")
    conversation.append_message(Role.STYLE, "<script>alert('x')</script> teal and amber")
    response = alice_client.get(reverse("specialists:studio", args=[alice_session.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "a lighthouse" in html
    assert "&lt;script&gt;alert(" in html and "teal and amber" in html
    assert "<script>alert(" not in html
    assert f'ws-connect="/ws/sessions/{alice_session.pk}/"' in html


def test_it_opens_paused_as_it_was_left_with_the_composer_limited_to_what_can_be_stored(
    alice_client, alice_session, settings
):
    settings.MESSAGE_MAX_CHARS = 1234
    url = reverse("specialists:studio", args=[alice_session.pk])
    running = alice_client.get(url).content.decode()
    Conversation.objects.current(alice_session).append_message(
        Role.SYSTEM, "You paused the team.", kind=Message.Kind.NOTICE, opens_turn=True, pauses=True
    )

    paused = alice_client.get(url).content.decode()

    assert 'name="pause">Pause</button>' in running and 'name="resume"' not in running
    assert 'name="resume">Resume</button>' in paused and 'name="pause"' not in paused
    assert 'id="composer-text" name="text" rows="2" maxlength="1234"' in paused


def test_it_rejects_another_users_session(client, bob, alice_session):
    client.force_login(bob)
    response = client.get(reverse("specialists:studio", args=[alice_session.pk]))
    assert response.status_code == 404


def test_it_returns_404_for_a_session_that_does_not_exist(alice_client):
    assert alice_client.get("/sessions/999999/").status_code == 404


def test_it_shows_the_current_phase(alice_client, alice_session):
    conversation = Conversation.objects.current(alice_session)
    put_in_phase(conversation, "refinement")
    html = alice_client.get(reverse("specialists:studio", args=[alice_session.pk])).content.decode()
    assert 'aria-current="step" data-phase="refinement"' in html


@pytest.mark.django_db
def test_it_shows_failed_replies_with_their_reason(alice_client, alice_session):
    conversation = Conversation.objects.current(alice_session)
    conversation.append_message(
        Role.STYLE,
        "",
        status=Message.Status.FAILED,
        metadata={"error": "model x is not installed: run `ollama pull x`"},
    )
    html = alice_client.get(reverse("specialists:studio", args=[alice_session.pk])).content.decode()
    assert "ollama pull x" in html
    assert "Try again" in html


def test_the_page_allows_only_the_studios_own_scripts_and_styles_and_has_nothing_inline(alice_client, alice_session):
    import re

    from specialists.models import Conversation, Role

    conversation = Conversation.objects.create(session=alice_session)
    for role in (Role.USER, Role.STYLE, Role.COMPOSITION, Role.STORY, Role.TECHNICAL, Role.CRITIC):
        conversation.append_message(role, "a lighthouse")
    response = alice_client.get(alice_session.get_absolute_url())
    policy = dict(part.strip().partition(" ")[::2] for part in response["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["default-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
    html = response.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "an inline script would be refused"
    assert not re.search(r"\sstyle=|<style|\son[a-z]+=", html), "inline styles and handlers would be refused"


def test_a_thinking_models_reasoning_is_shown_folded_only_when_the_session_asks(alice_client, alice_session):
    from specialists.models import Conversation, Role

    conversation = Conversation.objects.create(session=alice_session)
    reply = conversation.append_message(Role.STYLE, "Amber light.", metadata={"thinking": "<b>first</b> the mood"})
    html = alice_client.get(alice_session.get_absolute_url()).content.decode()
    assert "the mood" not in html
    alice_session.settings = {"show_thinking": True}
    alice_session.save()
    html = alice_client.get(alice_session.get_absolute_url()).content.decode()
    assert '<details class="thinking"><summary>How Luna thought it through</summary>' in html
    assert "&lt;b&gt;first&lt;/b&gt; the mood" in html and reply.content in html


def test_a_settled_reply_shows_its_markdown_formatted_and_a_streaming_one_as_it_comes(alice_client, alice_session):
    from specialists.models import Conversation, Message, Role

    conversation = Conversation.objects.create(session=alice_session)
    conversation.append_message(Role.USER, "**not markdown**, the artist's own words")
    conversation.append_message(Role.STYLE, "**Amber** light, [a reference](https://example.org/ref)")
    conversation.append_message(Role.COMPOSITION, "**still typing", status=Message.Status.STREAMING)
    html = alice_client.get(alice_session.get_absolute_url()).content.decode()
    assert "<strong>Amber</strong> light" in html
    assert '<a href="https://example.org/ref" rel="noopener noreferrer nofollow">a reference</a>' in html
    assert "**not markdown**, the artist" in html and "**still typing" in html


def test_a_reply_interrupted_before_its_first_word_leaves_no_empty_bubble(alice_client, alice_session):
    from specialists.models import Conversation, Message, Role

    conversation = Conversation.objects.create(session=alice_session)
    empty = conversation.append_message(Role.STYLE, "", status=Message.Status.INTERRUPTED)
    partial = conversation.append_message(Role.COMPOSITION, "A low", status=Message.Status.INTERRUPTED)
    html = alice_client.get(alice_session.get_absolute_url()).content.decode()
    assert re.search(rf'<article id="message-{empty.pk}"[^>]*\shidden>', html)
    assert not re.search(rf'<article id="message-{partial.pk}"[^>]*\shidden>', html)


def test_a_reload_shows_whose_turn_it_is(alice_client, alice_session):
    conversation = Conversation.objects.create(session=alice_session)
    conversation.append_message(Role.USER, "a fox")
    url = reverse("specialists:studio", args=[alice_session.pk])
    quiet = alice_client.get(url).content.decode()
    assert '<div id="turn-cue" class="turn-cue" role="status"></div>' in quiet  # the team is about to answer
    for role in (Role.STYLE, Role.COMPOSITION, Role.STORY):
        conversation.append_message(role, "…", status=Message.Status.COMPLETE)
    page = alice_client.get(url).content.decode()
    assert "Your turn — reply to the team, or move on to Refinement." in page
    assert "Move on to Refinement ›" in page


def test_every_settled_reply_says_which_model_answered(alice_client, alice_session):
    conversation = Conversation.objects.create(session=alice_session)
    conversation.append_message(Role.USER, "a fox")
    conversation.append_message(
        Role.STYLE, "amber", status=Message.Status.COMPLETE, metadata={"model": "qwen3:8b<b>", "backend": "ollama"}
    )
    conversation.append_message(
        Role.COMPOSITION, "low", status=Message.Status.COMPLETE, metadata={"model": "smollm2", "backend": "embedded"}
    )
    page = alice_client.get(reverse("specialists:studio", args=[alice_session.pk])).content.decode()
    assert '<span class="model-tag" title="Answered by qwen3:8b&lt;b&gt;">qwen3:8b&lt;b&gt;</span>' in page
    assert '<span class="model-tag" title="Answered by smollm2">built-in model</span>' in page
    assert page.count('class="model-tag"') == 2  # the artist's own words name no model
