"""A page on another site cannot open the studio's websocket with the artist's cookies."""

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.e2e.studio_page import start_session

pytestmark = pytest.mark.e2e


def _cookie_header(context) -> str:
    return "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())


def test_the_websocket_refuses_a_foreign_origin_even_with_a_valid_session_cookie(page, context, studio):
    session = start_session(page, "A kite stuck in a cathedral")
    url = f"{studio.ws_url}/ws/sessions/{session}/"
    cookie = _cookie_header(context)

    with pytest.raises(InvalidStatus) as refused:
        connect(url, origin="http://evil.example", additional_headers={"Cookie": cookie}, open_timeout=5).close()
    assert refused.value.response.status_code == 403

    # The same cookie from the studio's own origin is let in and gets the conversation.
    with connect(url, origin=studio.base_url, additional_headers={"Cookie": cookie}, open_timeout=5) as socket:
        snapshot = socket.recv(timeout=5)
    assert 'id="messages"' in snapshot
    assert "A kite stuck in a cathedral" in snapshot
