import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async

from studio.core.services import broadcast
from tests.fixtures.render_farm import GroupListener


async def _running_loop():
    return asyncio.get_running_loop()


def _from_plain_threads(count: int) -> list:
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(broadcast.run_from_sync(_running_loop))) for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return results


def test_sends_from_outside_any_loop_share_one_long_lived_loop():
    first, second = _from_plain_threads(2)
    [later] = _from_plain_threads(1)
    assert first is second is later
    assert later.is_running()


async def test_sends_from_a_servers_database_thread_run_on_the_servers_loop():
    server = asyncio.get_running_loop()
    assert await sync_to_async(broadcast.run_from_sync)(_running_loop) is server


@pytest.mark.django_db(transaction=True)
def test_a_push_from_a_worker_thread_reaches_the_sessions_browsers(alice_session):
    listener = GroupListener(alice_session.pk)
    try:
        pushed = threading.Thread(target=broadcast.push_html_sync, args=(alice_session.pk, "<p>done</p>"))
        pushed.start()
        pushed.join(10)
        assert [e["html"] for e in listener.drain(until=lambda events: events)] == ["<p>done</p>"]
    finally:
        listener.close()
