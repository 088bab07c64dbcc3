"""A browser left open on a quiet session (the artist reads, thinks, goes for coffee) keeps its socket.

With REDIS_URL the consumer waits on channels-redis' blocking receive (BZPOPMIN, 5 s). redis-py 8
reads with a 5 s socket timeout by default, so a quiet socket's receive timed out and the
consumer crashed: every idle websocket was closed by the server within about ten seconds.
"""

import asyncio

import pytest
from django.conf import settings

from studio.core.services.broadcast import push_html
from tests.faults.conftest import make_session
from tests.fixtures.websockets import ChatView

pytestmark = pytest.mark.django_db(transaction=True)

# Longer than two of channels-redis' blocking receives back to back.
QUIET_SECONDS = 11


async def test_an_idle_socket_still_gets_pushes_after_a_quiet_spell(open_socket, alice):
    if not settings.REDIS_URL:
        pytest.skip("the in-memory channel layer has no network read to time out; set REDIS_URL")
    session = await make_session(alice)
    socket = await open_socket(alice, session.pk)
    view = ChatView()
    await view.opened(socket)

    await asyncio.sleep(QUIET_SECONDS)
    await push_html(session.pk, '<p id="ping" hx-swap-oob="true">still here</p>')
    await view.drain(socket, until=lambda v: any("still here" in frame for frame in v.frames), timeout=5)
    assert not socket.future.done(), "the consumer ended while the socket sat idle"
    await socket.disconnect()
