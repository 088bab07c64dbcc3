from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from generations.models import Generation, MediaOutput
from specialists.models import Conversation, Message
from studio.core.models import Session


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def run(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def test_it_creates_a_finished_demo_session_for_the_local_user(db):
    output = run()
    session = Session.objects.get(owner__username="local")
    assert "Created" in output and f"/sessions/{session.pk}/" in output
    conversation = Conversation.objects.current(session)
    assert conversation.phase == "complete"
    roles = list(Message.objects.filter(conversation=conversation).values_list("role", flat=True))
    assert {"user", "style", "composition", "story", "technical", "critic"} <= set(roles)
    generations = Generation.objects.filter(session=session)
    assert generations.count() == 3 and all(g.status == "complete" for g in generations)
    for output in MediaOutput.objects.filter(generation__session=session):
        with output.file.open("rb") as handle:
            image = Image.open(handle)
            image.load()
        assert image.size[0] > 0


def test_it_is_idempotent(db):
    run()
    again = run()
    assert "Already there" in again
    assert Session.objects.count() == 1
    assert MediaOutput.objects.count() == 3


def test_it_seeds_for_a_named_user(alice):
    run("--user", "alice")
    assert Session.objects.get().owner == alice


def test_it_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        run("--user", "nobody")
