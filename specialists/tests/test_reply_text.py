"""What is kept of a reply: cut at the limit, stopped after enough sentences or in a loop, without a label."""

import pytest

from specialists.services.reply_text import ReplyWatch, end_at_sentence, loop_start, without_speaker_label


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("A low camera. Amber light over the", "A low camera."),
        ("A low camera. Amber light.", "A low camera. Amber light."),
        ("She said “go.” And then the fox ran into the snowy", "She said “go.”"),
        ("No sentence end in sight at all here, just words and more words", None),
    ],
)
def test_a_cut_reply_ends_at_a_sentence_or_at_a_word_with_an_ellipsis(text, kept):
    result = end_at_sentence(text)
    if kept is None:
        assert result == "No sentence end in sight at all here, just words and more…"
    else:
        assert result == kept


@pytest.mark.parametrize(
    "text",
    [
        "[Luna]: Amber light.",
        "Luna: Amber light.",
        "**Frame**: Amber light.",
        "Saga's: Amber light.",
        "Lens (critic): Amber light.",
        "[Luna]: [Luna]: Amber light.",
    ],
)
def test_a_leading_speaker_label_is_dropped(text):
    assert without_speaker_label(text) == "Amber light."


def test_words_that_merely_start_with_a_name_are_kept():
    assert without_speaker_label("Luna here. Amber light.") == "Luna here. Amber light."
    assert without_speaker_label("Lunar light: silver.") == "Lunar light: silver."


def test_a_loop_is_found_where_it_began_and_a_varied_reply_is_not_a_loop():
    looping = "I see it in a very special way, a very special way, a very special way"
    assert looping[: loop_start(looping)].endswith("a very special way, ")
    assert loop_start("Amber light, a low camera, snow on the rocks, one small lantern in the window.") is None


def test_a_loop_is_found_at_the_end_of_a_long_reply_too():
    text = "word " * 2000 + "the same three, the same three, the same three"
    assert loop_start(text) is not None and loop_start(text) > 9000


def test_the_watch_stops_after_four_sentences_counting_each_once_however_the_text_is_cut():
    text = "One. Two! Three? Four. Five."
    for size in (1, 2, 3, 7):
        watch = ReplyWatch(max_chars=10_000)
        stopped = any(watch.feed(text[i : i + size]) for i in range(0, len(text), size))
        assert stopped and watch.reason == "sentences" and watch.kept() == "One. Two! Three? Four."


def test_a_reply_far_longer_than_its_budget_is_stopped_at_a_word():
    watch = ReplyWatch(max_chars=100)
    stopped = any(watch.feed(word + " ") for word in ["endless"] + [f"word{n}" for n in range(200)])
    assert stopped and watch.reason == "length" and watch.kept().endswith("…") and len(watch.kept()) <= 110


@pytest.mark.parametrize(
    "text",
    [
        "The team is excited.\n\nPixel, the technical director, said: \"Pixel's brief: a fox",
        "A low camera works best. Saga: and the fox sleeps",
        "A low camera works best.\n[Lens]: too vague",
        "A low camera works best. The artist said: make it blue",
    ],
)
def test_a_reply_that_goes_on_as_someone_else_is_stopped_where_they_begin(text):
    watch = ReplyWatch(max_chars=10_000)
    stopped = any(watch.feed(text[i : i + 5]) for i in range(0, len(text), 5))
    assert stopped and watch.reason == "another voice"
    assert watch.kept() in ("The team is excited.", "A low camera works best.")


def test_a_name_inside_a_sentence_is_not_another_voice():
    watch = ReplyWatch(max_chars=10_000)
    assert not any(watch.feed(part) for part in ["Building on what Luna said: ", "amber light works. ", "Lunar: no."])
