"""Tell the browsers on a session that something changed.

Events name what changed; each websocket consumer renders it for its own
client, so a consumer can skip what it has already shown (no duplicates after
a reconnect).
"""

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from specialists.models import Conversation
from specialists.services.chat_html import render_pause_control, render_phase, render_turn_cue
from studio.core.services.broadcast import group_name, push_html, push_html_sync, run_from_sync


async def message_added(session_id: int, message_id: int) -> None:
    await get_channel_layer().group_send(group_name(session_id), {"type": "studio.message", "message_id": message_id})


async def bubble_added(session_id: int, message_id: int, html: str) -> None:
    """A new (streaming) bubble, rendered once by its sender: its tokens follow at once, and a consumer
    that had to query the database for it first held them back behind every other session's queries."""
    event = {"type": "studio.bubble", "message_id": message_id, "html": html}
    await get_channel_layer().group_send(group_name(session_id), event)


async def bubble_settled(session_id: int, message_id: int, append: str, replace: str, length: int) -> None:
    """A finished reply, rendered once by its sender for every browser: ``replace`` for those that show
    the bubble, ``append`` for those that do not yet."""
    event = {"type": "studio.bubble", "message_id": message_id, "html": append, "replace": replace, "length": length}
    await get_channel_layer().group_send(group_name(session_id), event)


async def message_changed(session_id: int, message_id: int) -> None:
    await message_added(session_id, message_id)  # the consumer appends or replaces as needed


async def phase_changed(conversation_id: int) -> None:
    conversation, html = await sync_to_async(_phase_html)(conversation_id)
    await push_html(conversation.session_id, html)


async def pause_changed(conversation_id: int) -> None:
    """The composer's Pause or Resume button, for every browser on the session (their typed text untouched)."""
    conversation, html = await sync_to_async(_pause_html)(conversation_id)
    await push_html(conversation.session_id, html)


async def turn_changed(conversation_id: int) -> None:
    """The composer's cue, once the team stops and waits for the artist."""
    conversation, html = await sync_to_async(_cue_html)(conversation_id)
    await push_html(conversation.session_id, html)


async def team_talking(session_id: int) -> None:
    await push_html(session_id, render_turn_cue())


def _cue_html(conversation_id: int):
    conversation = Conversation.objects.get(pk=conversation_id)
    return conversation, render_turn_cue(conversation)


def _pause_html(conversation_id: int):
    conversation = Conversation.objects.get(pk=conversation_id)
    return conversation, render_pause_control(conversation) + render_turn_cue(conversation)


def _phase_html(conversation_id: int):
    conversation = Conversation.objects.get(pk=conversation_id)
    return conversation, render_phase(conversation) + render_turn_cue(conversation)


def message_added_sync(session_id: int, message_id: int) -> None:
    run_from_sync(message_added, session_id, message_id)


def phase_changed_sync(conversation_id: int) -> None:
    conversation, html = _phase_html(conversation_id)
    push_html_sync(conversation.session_id, html)
