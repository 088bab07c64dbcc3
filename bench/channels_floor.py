"""The floor under the studio's streaming: daphne and Channels forwarding tokens, with nothing else.

An ASGI application for `bench/streaming_latency.py`, served by daphne with the same settings (and so
the same channel layer) as the studio it is compared with. Each websocket joins a group of its own;
when the client sends "go", a task group-sends `tokens` events, `delay` seconds apart, each stamped
with time.time(), and the consumer forwards each to its socket. No database, no engine, no
templates: whatever delay this shows at a hundred sockets, the studio cannot go below it.

    python -m daphne -p PORT bench.channels_floor:application      # with DJANGO_SETTINGS_MODULE set
"""

import asyncio
import json
import time

import django

django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402


class ForwardingConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.group = f"floor.{self.channel_name.replace('!', '.')}"
        self.producer: asyncio.Task | None = None
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        order = json.loads(text_data)
        self.producer = asyncio.create_task(self.produce(int(order["tokens"]), float(order["delay"])))

    async def produce(self, tokens: int, delay: float) -> None:
        for _ in range(tokens):
            await asyncio.sleep(delay)
            await self.channel_layer.group_send(self.group, {"type": "floor.token", "sent": time.time()})

    async def floor_token(self, event):
        await self.send(text_data=str(event["sent"]))

    async def disconnect(self, code):
        if self.producer is not None:
            self.producer.cancel()
        await self.channel_layer.group_discard(self.group, self.channel_name)


application = ForwardingConsumer.as_asgi()
