import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from generations.models import Generation
from generations.services.brief import normalize_brief
from generations.services.catalog import get_catalog
from generations.workflows import TEMPLATES
from studio.core.models import Conversation, Phase, Role
from studio.core.services.broadcast import group_name

BRIEF = {
    "positive_prompt": "a red fox asleep in fresh snow, dawn light",
    "negative_prompt": "blurry",
    "width": 512,
    "height": 512,
    "steps": 6,
    "cfg": 6.0,
    "sampler": "euler",
    "scheduler": "normal",
    "seed": 1234,
}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def make_generation(alice_session):
    """make_generation(template="txt2img", **brief_overrides) -> a queued Generation in a generating conversation."""

    def _make(template="txt2img", **overrides):
        conversation = Conversation.objects.filter(session=alice_session).first() or Conversation.objects.create(
            session=alice_session, phase=Phase.GENERATING
        )
        brief, _ = normalize_brief({**BRIEF, **overrides}, get_catalog())
        generation = Generation.objects.create(
            session=alice_session,
            conversation=conversation,
            template=template,
            kind="video" if template == "video" else "image",
            parameters=brief,
        )
        generation.workflow = TEMPLATES[template](brief, prefix=f"t{generation.pk}")
        message = conversation.append_message(
            Role.SYSTEM, "", metadata={"kind": "generation", "generation_id": generation.pk}
        )
        generation.message = message
        generation.save()
        return generation

    return _make


class GroupListener:
    """Subscribes a channel to a session's group and collects what the browsers would get."""

    def __init__(self, session_id):
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        async_to_sync(self.layer.group_add)(group_name(session_id), self.channel)

    def drain(self) -> list[dict]:
        async def collect():
            events = []
            while True:
                try:
                    events.append(await asyncio.wait_for(self.layer.receive(self.channel), 0.3))
                except TimeoutError:
                    return events

        return async_to_sync(collect)()


@pytest.fixture
def listener(alice_session):
    return GroupListener(alice_session.pk)
