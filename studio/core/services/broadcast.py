"""Push HTML fragments to every browser watching a session.

Fragments are rendered from templates by the caller and carry hx-swap-oob
attributes; the websocket consumer forwards them as they are.
"""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def group_name(session_id: int) -> str:
    return f"session-{session_id}"


async def push_html(session_id: int, html: str) -> None:
    await get_channel_layer().group_send(group_name(session_id), {"type": "studio.html", "html": html})


def push_html_sync(session_id: int, html: str) -> None:
    async_to_sync(push_html)(session_id, html)


async def kick(session_id: int) -> None:
    """Ask the session's consumers to run the orchestrator if the conversation has pending work."""
    await get_channel_layer().group_send(group_name(session_id), {"type": "studio.kick"})


def kick_sync(session_id: int) -> None:
    async_to_sync(kick)(session_id)
