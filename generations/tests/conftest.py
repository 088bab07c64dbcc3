import asyncio
import queue
import threading

import pytest
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
    """Subscribes a channel to a session's group and collects what the browsers would get.

    It receives in an event loop of its own that runs until the test ends: on Redis pub/sub a
    subscription lives only as long as the loop that made it. Not for sessions with live consumers
    (they would get its readiness probe).
    """

    def __init__(self, session_id):
        self.layer = get_channel_layer()
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="group-listener", daemon=True)
        self.thread.start()
        self._run(self._join(group_name(session_id)))

    def _run(self, coroutine, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def _join(self, group: str) -> None:
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(group, self.channel)
        receiving = asyncio.ensure_future(self.layer.receive(self.channel))
        # A pub/sub subscription takes effect a moment after it is asked for: probe until the group reaches us.
        while not receiving.done():
            await self.layer.group_send(group, {"type": "test.listening"})
            await asyncio.wait({receiving}, timeout=0.05)
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        while True:
            event = await self.layer.receive(self.channel)
            if event.get("type") != "test.listening":
                self.events.put(event)

    def drain(self) -> list[dict]:
        """Everything received until nothing more arrives for 0.3 s."""
        events = []
        while True:
            try:
                events.append(self.events.get(timeout=0.3))
            except queue.Empty:
                return events

    def close(self) -> None:
        async def stop():
            self._reader.cancel()
            await asyncio.wait({self._reader})

        self._run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def listener(alice_session):
    listener = GroupListener(alice_session.pk)
    yield listener
    listener.close()
