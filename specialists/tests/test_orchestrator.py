"""The orchestrator run against the fake Ollama over a real socket."""

import asyncio
import itertools
import json
import re

import pytest
from asgiref.sync import sync_to_async

from specialists.models import Conversation, Message, Phase, Review, Role
from specialists.services import runs
from studio.core.models import Session
from tests.fixtures.conversations import put_in_phase

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def start(user, idea="a fox in the snow", **session_fields):
    session = Session.objects.create(owner=user, title="Fox", **session_fields)
    conversation = Conversation.objects.create(session=session)
    conversation.append_message(Role.USER, idea)
    return conversation


@sync_to_async
def stored(conversation):
    return list(conversation.messages.order_by("order"))


@sync_to_async
def refreshed(conversation):
    conversation.refresh_from_db()
    return conversation


async def run(conversation):
    await asyncio.wait_for(runs.run_pending(conversation.pk), 30)


def chat_requests(fake):
    return [r for r in fake.requests if r["path"] == "/api/chat"]


async def test_the_ideation_team_answers_in_turn_with_their_own_voices(alice, fake_ollama):
    conversation = await start(alice)
    await run(conversation)
    messages = await stored(conversation)
    assert [m.role for m in messages] == [Role.USER, Role.STYLE, Role.COMPOSITION, Role.STORY]
    assert all(m.status == Message.Status.COMPLETE and m.content for m in messages)
    assert all(m.metadata["backend"] == "ollama" for m in messages[1:])
    requests = chat_requests(fake_ollama)
    systems = [r["json"]["messages"][0]["content"] for r in requests]
    assert systems[0].startswith("You are Luna") and systems[1].startswith("You are Frame")
    assert systems[2].startswith("You are Saga")
    # Frame hears what Luna said, attributed to her.
    frame_history = " ".join(m["content"] for m in requests[1]["json"]["messages"][1:])
    assert f"Luna, the style lead, said: “{messages[1].content}”" in frame_history
    assert "The artist said: “a fox in the snow”" in frame_history
    # Nothing in what Frame hears starts like a line of a script it could continue as someone else.
    assert not re.search(r"^\s*\[?\w+\]?:", frame_history, re.M)


async def test_concurrent_rounds_overlap_when_the_session_allows_it(alice, fake_ollama):
    fake_ollama.token_delay = 0.02
    conversation = await start(alice, settings={"concurrent": True})
    await run(conversation)
    requests = chat_requests(fake_ollama)
    assert len(requests) == 3
    starts = sorted(r["started"] for r in requests)
    ends = sorted(r["finished"] for r in requests)
    assert starts[-1] < ends[0], "the three replies did not stream at the same time"
    messages = await stored(conversation)
    assert [m.role for m in messages] == [Role.USER, Role.STYLE, Role.COMPOSITION, Role.STORY]


async def test_on_an_engine_that_serves_one_at_a_time_the_waiting_bubbles_say_so(
    alice, fake_ollama, listener_for, monkeypatch
):
    from specialists.services import streaming

    monkeypatch.setattr(streaming, "WAITING_NOTICE_SECONDS", 0.2)
    fake_ollama.parallel, fake_ollama.token_delay = 1, 0.02  # OLLAMA_NUM_PARALLEL's default
    conversation = await start(alice, settings={"concurrent": True})
    listener = await sync_to_async(listener_for)(conversation.session_id)
    await run(conversation)
    messages = await stored(conversation)
    assert [m.status for m in messages[1:]] == [Message.Status.COMPLETE] * 3
    served = sorted(chat_requests(fake_ollama), key=lambda r: r["token_times"][0])
    assert all(later["token_times"][0] >= earlier["token_times"][-1] for earlier, later in itertools.pairwise(served))
    events = await sync_to_async(listener.drain)()
    waited = {
        m.pk
        for m in messages[1:]
        for e in events
        if e.get("html", "").startswith(f'<span id="message-{m.pk}-status"') and "waiting for the model…" in e["html"]
    }
    assert len(waited) >= 2, "the replies queued behind the first did not say they were waiting"


async def test_a_missing_model_fails_with_the_pull_command_and_stops_the_turn(alice, fake_ollama):
    conversation = await start(alice, model_assignments={"style": "not-installed:7b"})
    await run(conversation)
    messages = await stored(conversation)
    assert [m.role for m in messages] == [Role.USER, Role.STYLE]
    failed = messages[1]
    assert failed.status == Message.Status.FAILED
    assert "ollama pull not-installed:7b" in failed.metadata["error"]


async def test_ollama_down_is_reported_and_retry_resumes_once_it_is_back(alice, settings, dead_url, fake_ollama):
    good_url = settings.OLLAMA_URL
    settings.OLLAMA_URL = dead_url
    from specialists.services import llm

    llm.reset_clients()
    conversation = await start(alice)
    await run(conversation)
    messages = await stored(conversation)
    assert messages[-1].status == Message.Status.FAILED
    assert "not reachable" in messages[-1].metadata["error"]

    settings.OLLAMA_URL = good_url
    llm.reset_clients()
    from specialists.services import actions

    assert await actions.retry(await sync_to_async(lambda: conversation.session)()) == 1
    await run(conversation)
    messages = await stored(conversation)
    assert [m.role for m in messages if m.status == Message.Status.COMPLETE] == [
        Role.USER,
        Role.STYLE,
        Role.COMPOSITION,
        Role.STORY,
    ]


async def test_a_mid_stream_error_keeps_the_partial_text(alice, fake_ollama):
    fake_ollama.fail_next("error_line", after_tokens=3)
    conversation = await start(alice)
    await run(conversation)
    failed = (await stored(conversation))[1]
    assert failed.status == Message.Status.FAILED and failed.content
    assert failed.metadata["error"]


async def test_the_conversation_flows_to_a_reviewed_brief(alice, fake_ollama, fake_comfyui):
    conversation = await start(alice, settings={"rounds": {"ideation": 1, "refinement": 1}})
    await run(conversation)
    conversation = await refreshed(conversation)
    assert conversation.phase == Phase.REVIEW
    messages = await stored(conversation)
    roles = [m.role for m in messages if m.role != Role.SYSTEM]
    assert roles == [Role.USER] + [Role.STYLE, Role.COMPOSITION, Role.STORY] * 1 + [
        Role.STYLE,
        Role.COMPOSITION,
        Role.STORY,
        Role.CRITIC,
        Role.TECHNICAL,
        Role.CRITIC,
    ]
    brief_message = next(m for m in messages if m.kind == "brief")
    brief = brief_message.brief
    assert brief["positive_prompt"]
    assert brief["checkpoint"] in fake_comfyui.checkpoints
    assert brief["width"] % 8 == 0 and 1 <= brief["steps"] <= 150
    pixel_request = [r for r in chat_requests(fake_ollama) if r["json"].get("format")][0]
    assert pixel_request["json"]["format"]["type"] == "object"


async def test_an_orphaned_reply_is_recovered_as_interrupted(alice, fake_ollama):
    from datetime import timedelta

    from django.utils import timezone

    from specialists.services.live import live

    conversation = await start(alice)

    @sync_to_async
    def leave_an_orphan():
        message = conversation.append_message(Role.STYLE, "half", status=Message.Status.STREAMING)
        Conversation.objects.filter(pk=conversation.pk).update(running_since=timezone.now() - timedelta(minutes=5))
        return message

    orphan = await leave_an_orphan()
    await live().append(orphan.pk, "half a thought")
    await run(conversation)
    messages = await stored(conversation)
    recovered = messages[1]
    assert recovered.pk == orphan.pk
    assert recovered.status == Message.Status.INTERRUPTED and recovered.content == "half a thought"
    assert [m.role for m in messages[2:]] == [Role.COMPOSITION, Role.STORY]


async def test_a_live_claim_from_another_process_is_respected(alice, fake_ollama):
    from django.utils import timezone

    conversation = await start(alice)
    await sync_to_async(Conversation.objects.filter(pk=conversation.pk).update)(running_since=timezone.now())
    await run(conversation)
    assert len(await stored(conversation)) == 1
    assert chat_requests(fake_ollama) == []


async def _lens_reviews_a_result(alice, fake_ollama, settings, tmp_path, critic: str):
    from django.core.files.base import ContentFile

    from generations.models import Generation, MediaOutput

    settings.MEDIA_ROOT = tmp_path
    fake_ollama.models = ["llama3.2", critic]
    conversation = await start(alice, model_assignments={"critic": critic})

    @sync_to_async
    def finish_a_generation():
        put_in_phase(conversation, Phase.COMPLETE)
        generation = Generation.objects.create(session=conversation.session, status="complete")
        output = MediaOutput(
            generation=generation, kind="image", content_type="image/png", source_key="k", size_bytes=9
        )
        output.file.save("r.png", ContentFile(b"PNGBYTES!"))
        conversation.append_message(Role.SYSTEM, "ready", kind="result", opens_turn=True, generation=generation)

    await finish_a_generation()
    fake_ollama.clear_requests()
    await run(conversation)
    requests = chat_requests(fake_ollama)
    return (await stored(conversation))[-1], requests[-1]["json"] if requests else None


@pytest.mark.parametrize("critic", ["llava:7b", "gemma3:4b", "my-own-tag:latest"])
async def test_lens_looks_at_the_result_when_the_engine_says_the_model_sees(
    alice, fake_ollama, settings, tmp_path, critic
):
    import base64

    from tests.fakes import ollama as fake_module

    if critic == "my-own-tag:latest":  # a custom tag: only the engine knows it is a vision model
        fake_module.CAPABILITIES = (("my-own-tag", ["completion", "vision"]), *fake_module.CAPABILITIES)
    try:
        lens, request = await _lens_reviews_a_result(alice, fake_ollama, settings, tmp_path, critic)
    finally:
        fake_module.CAPABILITIES = tuple(c for c in fake_module.CAPABILITIES if c[0] != "my-own-tag")
    assert lens.role == Role.CRITIC and lens.status == Message.Status.COMPLETE and lens.metadata["saw_image"]
    assert lens.kind == Message.Kind.REVIEW and await sync_to_async(Review.objects.filter(message=lens).exists)()
    assert request["model"] == critic
    assert request["messages"][-1]["images"] == [base64.b64encode(b"PNGBYTES!").decode()]


@pytest.mark.parametrize("critic", ["gemma3:1b", "gemma3:270m", "mistral-vision-free:7b"])
async def test_lens_is_never_shown_the_image_on_a_text_only_model(alice, fake_ollama, settings, tmp_path, critic):
    lens, request = await _lens_reviews_a_result(alice, fake_ollama, settings, tmp_path, critic)
    assert lens.status == Message.Status.COMPLETE and lens.role == Role.CRITIC
    assert lens.content.startswith(f"I can't see pictures through {critic}")
    assert request is None  # nothing was sent: a text-only model would only make up what it cannot see


async def test_a_thinking_model_is_asked_not_to_think_and_answers_with_the_reply_only(alice, fake_ollama, settings):
    fake_ollama.models = ["qwen3:8b"]
    settings.LLM_DEFAULT_MODEL = "qwen3:8b"
    conversation = await start(alice)
    await run(conversation)
    luna = (await stored(conversation))[1]
    assert luna.status == Message.Status.COMPLETE and luna.content.startswith("Luna here.")
    assert "thinking" not in luna.metadata
    first = chat_requests(fake_ollama)[0]["json"]
    from specialists.services.replying import CHAT_REPLY_TOKENS, THINKING_ALLOWANCE

    assert first["think"] is False and first["options"]["num_predict"] == CHAT_REPLY_TOKENS + THINKING_ALLOWANCE


async def test_a_model_that_thinks_anyway_keeps_its_reasoning_apart_and_out_of_the_history(
    alice, fake_ollama, settings, listener_for
):
    fake_ollama.models = ["gpt-oss:20b"]
    settings.LLM_DEFAULT_MODEL = "gpt-oss:20b"
    conversation = await start(alice)
    listener = await sync_to_async(listener_for)(conversation.session_id)
    await run(conversation)
    luna, frame = (await stored(conversation))[1:3]
    assert luna.content.startswith("Luna here.") and "Let me think" not in luna.content
    assert luna.metadata["thinking"].startswith("Let me think")
    requests = chat_requests(fake_ollama)
    assert requests[0]["json"]["think"] == "low"
    frame_heard = " ".join(m["content"] for m in requests[1]["json"]["messages"])
    assert "Let me think" not in frame_heard and luna.content in frame_heard
    events = await sync_to_async(listener.drain)()
    notes = [e["html"] for e in events if e.get("html", "").startswith(f'<span id="message-{luna.pk}-status"')]
    assert notes and "thinking…" in notes[0] and "thinking…" not in notes[-1]


async def test_a_reply_cut_at_the_length_limit_ends_at_a_sentence_and_says_so(alice, fake_ollama, settings):
    settings.LLM_MAX_TOKENS = 24
    conversation = await start(alice)
    await run(conversation)
    luna = (await stored(conversation))[1]
    assert luna.status == Message.Status.COMPLETE and luna.metadata["cut"] is True
    assert luna.metadata["stats"]["done_reason"] == "length"
    assert luna.content.endswith((".", "!", "?", "…")) and not luna.content.endswith(" …")


def pixel_answers(text: str):
    """A responder whose brief (any request with a format) is ``text``; everyone else talks as usual."""
    from tests.fakes.ollama import default_responder

    return lambda body: text if body.get("format") is not None else default_responder(body)


@pytest.mark.parametrize(
    ("pixel_wrote", "prompt_starts"),
    [
        ("I think we should go with a moody, cinematic look!", "a lighthouse keeper's cat at dusk"),
        ('{"positive_prompt": "soft amber light, film grain", "width": 1200, "cfg": 50}', "a lighthouse keeper's"),
        ('{"positive_prompt": "a cat on a lighthouse gallery, amber dusk", "negative_prompt": "blur", "ste', "a cat"),
        ("", "a lighthouse keeper's cat at dusk"),
        ('{"prompt": ["not", "text"], "steps": "many"}', "a lighthouse keeper's cat at dusk"),
    ],
    ids=["prose", "schema-violating-and-off-subject", "cut-at-the-limit", "empty", "wrong-types"],
)
async def test_the_brief_always_arrives_and_is_about_the_artists_idea(
    alice, fake_ollama, fake_comfyui, pixel_wrote, prompt_starts
):
    fake_ollama.responder = pixel_answers(pixel_wrote)
    conversation = await start(
        alice, idea="a lighthouse keeper's cat at dusk", settings={"rounds": {"ideation": 1, "refinement": 1}}
    )
    await run(conversation)
    assert (await refreshed(conversation)).phase == Phase.REVIEW
    brief_message = next(m for m in await stored(conversation) if m.kind == "brief")
    brief = brief_message.brief
    assert brief["positive_prompt"].startswith(prompt_starts)
    assert brief["width"] <= 2048 and brief["cfg"] <= 30 and isinstance(brief["steps"], int)
    assert "[" not in brief["positive_prompt"]
    if pixel_wrote.startswith('{"positive_prompt": "soft'):
        assert any("your own words lead it" in w for w in brief_message.metadata["warnings"])


async def test_when_pixels_engine_fails_the_conversation_stays_in_synthesis_with_a_retry(
    alice, fake_ollama, fake_comfyui
):
    conversation = await start(alice)
    await sync_to_async(put_in_phase)(conversation, Phase.SYNTHESIS)

    @sync_to_async
    def open_turn():
        conversation.append_message(Role.SYSTEM, "Synthesis", kind="notice", opens_turn=True)

    await open_turn()
    fake_ollama.fail_next("server_error", message="unexpected server status 1")
    await run(conversation)
    conversation = await refreshed(conversation)
    pixel = (await stored(conversation))[-1]
    assert conversation.phase == Phase.SYNTHESIS
    assert pixel.role == Role.TECHNICAL and pixel.status == Message.Status.FAILED and not pixel.retried
    assert "unexpected server status 1" in pixel.metadata["error"]


@pytest.mark.parametrize(
    ("model_wrote", "stored_starts", "stored_is"),
    [
        ("[Luna]: I see amber light. A low camera.", "I see amber light.", None),
        ("Frame's: A wide shot, horizon low.", "A wide shot", None),
        (
            "One idea. A second idea. A third idea. A fourth idea. A fifth idea nobody asked for.",
            "One idea.",
            "One idea. A second idea. A third idea. A fourth idea.",
        ),
        (
            "I see it in a very special way, a very special way, a very special way, a very special way",
            "I see it",
            None,
        ),
    ],
    ids=["bracket-label", "possessive-label", "five-sentences", "loop"],
)
async def test_a_small_models_habits_are_trimmed_from_the_reply(
    alice, fake_ollama, model_wrote, stored_starts, stored_is
):
    fake_ollama.responder = lambda body: model_wrote
    conversation = await start(alice)
    await run(conversation)
    luna = (await stored(conversation))[1]
    assert luna.status == Message.Status.COMPLETE and luna.content.startswith(stored_starts)
    if stored_is is not None:
        assert luna.content == stored_is
    assert luna.content.count("a very special way") <= 1
    assert not luna.content.startswith(("[", "Frame"))


async def test_the_history_a_specialist_hears_fits_its_models_context(alice, fake_ollama, monkeypatch):
    from tests.fakes import ollama as fake_module

    monkeypatch.setattr(fake_module, "CONTEXT_LENGTH", 2048)
    conversation = await start(alice, idea="a fox in the snow " * 200)

    @sync_to_async
    def talk_a_lot():
        for n in range(30):
            conversation.append_message(Role.USER, f"more thoughts number {n} " + "lorem ipsum " * 60)

    await talk_a_lot()
    await run(conversation)
    sent = chat_requests(fake_ollama)[0]["json"]["messages"]
    history = sum(len(m["content"]) for m in sent[1:])
    assert history <= (2048 - 220 - 900) * 3 + 200, history  # the room left next to the reply and the persona
    assert "more thoughts number 29" in sent[-2]["content"] or "more thoughts number 29" in sent[-1]["content"]


async def test_an_engine_that_never_stops_talking_is_stopped_and_the_reply_kept(alice, fake_ollama):
    fake_ollama.ignores_limits = True
    fake_ollama.responder = pixel_answers(json.dumps({"positive_prompt": "a fox " * 3000, "steps": 20}))
    endless = " ".join(f"word{n}" for n in range(5000))
    talk = fake_ollama.responder
    fake_ollama.responder = lambda body: talk(body) if body.get("format") is not None else endless
    conversation = await start(alice, settings={"rounds": {"ideation": 1, "refinement": 1}})
    await sync_to_async(put_in_phase)(conversation, Phase.IDEATION)
    await run(conversation)
    luna = (await stored(conversation))[1]
    assert luna.status == Message.Status.COMPLETE and luna.content.endswith("…")
    assert len(luna.content) <= 220 * 8 + 10
    assert (await refreshed(conversation)).phase == Phase.REVIEW
    brief = next(m for m in await stored(conversation) if m.kind == "brief").brief
    assert brief["positive_prompt"].startswith("a fox a fox") and brief["steps"] > 0


async def test_a_brief_prompt_that_copies_the_conversation_keeps_only_its_own_words(alice, fake_ollama, fake_comfyui):
    copied = {"positive_prompt": "a red fox asleep, amber light, Luna, the style lead, said: “I love it”"}
    fake_ollama.responder = pixel_answers(json.dumps(copied))
    conversation = await start(alice, idea="a red fox asleep", settings={"rounds": {"ideation": 1, "refinement": 1}})
    await run(conversation)
    brief = next(m for m in await stored(conversation) if m.kind == "brief").brief
    assert brief["positive_prompt"] == "a red fox asleep, amber light"



async def test_the_built_in_model_is_announced_once_with_how_to_get_better_answers(alice, fake_ollama, monkeypatch):
    from specialists.clients.ollama import OllamaClient

    # The fake Ollama stands in for the built-in server: what matters is the backend the studio resolved.
    monkeypatch.setattr(OllamaClient, "backend", "embedded")
    conversation = await start(alice)
    await run(conversation)
    await sync_to_async(conversation.append_message)(Role.USER, "make it winter")
    await run(conversation)
    messages = await stored(conversation)
    notices = [m for m in messages if m.kind == Message.Kind.NOTICE]
    assert len(notices) == 1 and messages[1] == notices[0]  # before the first reply, and only once
    assert "built-in model (SmolLM2-135M)" in notices[0].content and "`ollama pull llama3.2`" in notices[0].content
    assert [m.role for m in messages if m.kind == Message.Kind.CHAT].count(Role.STYLE) == 2


async def test_a_new_brief_folds_the_earlier_one_in_every_browser(alice, fake_ollama, fake_comfyui, monkeypatch):
    from specialists.services import notify, orchestrator
    from specialists.services.turns import Step

    changed = []
    real = notify.message_changed

    async def record(session_id, message_id):
        changed.append(message_id)
        await real(session_id, message_id)

    monkeypatch.setattr(notify, "message_changed", record)
    conversation = await start(alice)
    await sync_to_async(put_in_phase)(conversation, Phase.SYNTHESIS)
    anchor = (await stored(conversation))[0]
    await orchestrator.draft_brief(conversation, Step("brief", anchor.pk, (Role.TECHNICAL,)))
    [first] = [m for m in await stored(conversation) if m.kind == Message.Kind.BRIEF]
    assert first.pk not in changed
    await orchestrator.draft_brief(conversation, Step("brief", anchor.pk, (Role.TECHNICAL,)))
    assert changed.count(first.pk) == 1


async def test_a_direct_question_is_answered_by_that_specialist_and_keeps_the_phase_and_its_round(
    alice, fake_ollama
):
    from specialists.services import actions

    conversation = await start(alice)
    await run(conversation)
    session = await sync_to_async(lambda: conversation.session)()
    await actions.post_message(session, alice, "Frame, where should the horizon sit?")
    await run(conversation)
    messages = await stored(conversation)
    assert [m.role for m in messages[-2:]] == [Role.USER, Role.COMPOSITION]
    assert len([m for m in messages if m.role in (Role.STYLE, Role.STORY)]) == 2
    conversation = await refreshed(conversation)
    assert (conversation.phase, conversation.round) == (Phase.IDEATION, 1)
    # Frame heard the question as the artist's latest words.
    asked = chat_requests(fake_ollama)[-1]["json"]["messages"]
    assert asked[0]["content"].startswith("You are Frame")
    assert "Frame, where should the horizon sit?" in asked[-1]["content"]


async def test_a_question_to_lens_in_review_is_answered_without_sending_pixel_back(alice, fake_ollama):
    from specialists.services import actions

    conversation = await start(alice)
    await sync_to_async(put_in_phase)(conversation, Phase.REVIEW)
    session = await sync_to_async(lambda: conversation.session)()
    await actions.post_message(session, alice, "Lens, is the lighting right?")
    await run(conversation)
    messages = await stored(conversation)
    assert [m.role for m in messages[-2:]] == [Role.USER, Role.CRITIC]
    assert (await refreshed(conversation)).phase == Phase.REVIEW


async def test_after_a_direct_question_the_next_words_open_the_next_round(alice, fake_ollama):
    from specialists.services import actions

    conversation = await start(alice)
    await run(conversation)
    session = await sync_to_async(lambda: conversation.session)()
    await actions.post_message(session, alice, "Saga, who lives here?")
    await run(conversation)
    await actions.post_message(session, alice, "Make it winter.")
    assert (await refreshed(conversation)).round == 2


async def test_a_round_without_a_muted_specialist_is_heard_out(alice, fake_ollama):
    from specialists.services import actions

    conversation = await start(alice, settings={"muted": [Role.STORY]})
    await run(conversation)
    assert Role.STORY not in {m.role for m in await stored(conversation)}
    session = await sync_to_async(lambda: conversation.session)()
    await actions.post_message(session, alice, "Make it winter.")
    assert (await refreshed(conversation)).round == 2
