"""The studio websocket: live tokens and chat updates out, the artist's actions in."""

import json
import logging

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer

from specialists.models import Conversation, Message
from specialists.services import actions, chat_html, supervisor
from specialists.services.live import live
from studio.core.models import Session
from studio.core.services import action_limit
from studio.core.services.accounts import still_signed_in
from studio.core.services.broadcast import group_name, user_group_name
from studio.core.services.database import async_read

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
MAX_FRAME_BYTES = 64 * 1024
SIGNED_OUT = "You are signed out, so this page no longer sends anything. Reload it to sign in again."
SESSION_GONE = "This session was deleted, so nothing more can be added to it. Go back to your sessions."
NOT_TEXT = "The studio reads text messages only; that was binary data."
TOO_LARGE = "That was too large to send."
UNREADABLE = "The studio could not read that request."
UNKNOWN_ACTION = "Unknown action."
INTERNAL_ERROR = "The studio hit an internal error with that; your text is still in the box. Try again."
ACTIONS = frozenset({"message", "edit", "advance", "back", "stop", "resume", "retry", "go_on", "retake"})
# Events whose handlers never touch the database. Channels runs close_old_connections() in the
# database thread before every event; for tokens that hop queued each one behind every session's
# queries (hundreds of ms at 20 sessions, see PERFORMANCE.md), so these skip it.
NO_DATABASE_EVENTS = frozenset({"studio.token", "studio.html", "studio.bubble"})


@async_read
def _owned_session(user, session_id: int) -> Session | None:
    return Session.objects.filter(pk=session_id, owner=user).first()


@async_read
def _why_not_anymore(session_key: str | None, user, session_id: int) -> tuple[str, int] | None:
    """Why this socket may no longer act (the sentence and the close code), or None while it may."""
    if not still_signed_in(session_key, user.pk):
        return SIGNED_OUT, CLOSE_UNAUTHENTICATED
    if not Session.objects.filter(pk=session_id, owner=user).exists():
        return SESSION_GONE, CLOSE_NOT_FOUND
    return None


@async_read
def _snapshot_state(session: Session):
    conversation = Conversation.objects.current(session)
    messages = chat_html.conversation_messages(conversation)
    return conversation, messages


@async_read
def _render_snapshot(conversation, messages, live_texts: dict[int, str]) -> tuple[str, dict[int, int]]:
    html = chat_html.render_messages(conversation, live=live_texts, oob=True, messages=messages)
    html += chat_html.render_phase(conversation)
    # Exactly what was rendered: later events for these are replacements or deduplicated tokens.
    return html, {m.pk: len(live_texts.get(m.pk, m.content)) for m in messages}


@async_read
def _render_message(message_id: int, append: bool, live_text: str | None):
    message = Message.objects.select_related("conversation__session", "generation").filter(pk=message_id).first()
    if message is None:
        return None, 0
    html = chat_html.render_message(message, append=append, oob=not append, live_content=live_text)
    shown = live_text if (message.status == Message.Status.STREAMING and live_text is not None) else message.content
    return html, len(shown)


class StudioConsumer(AsyncWebsocketConsumer):
    async def dispatch(self, message):
        if message.get("type") in NO_DATABASE_EVENTS:
            await getattr(self, get_handler_name(message))(message)
            return
        await super().dispatch(message)

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.session = await _owned_session(user, self.scope["url_route"]["kwargs"]["session_id"])
        if self.session is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = group_name(self.session.pk)
        self.user_group = user_group_name(user.pk)
        # message id -> characters of its text this client already has
        self.shown: dict[int, int] = {}
        # Join before taking the snapshot: every later token is either in it or queued for us.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        await self.accept()
        await self.send_snapshot()

    async def disconnect(self, code):
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.channel_layer.group_discard(self.user_group, self.channel_name)

    def _session_key(self) -> str | None:
        session = self.scope.get("session")
        return session.session_key if session is not None else None

    async def end(self, sentence: str, code: int):
        await self.send_alert(sentence)
        await self.close(code=code)

    async def send_snapshot(self):
        conversation, messages = await _snapshot_state(self.session)
        self.conversation_id = conversation.pk
        live_texts = {}
        for message in messages:
            if message.status == Message.Status.STREAMING:
                text = await live().get(message.pk)
                if text is not None:
                    live_texts[message.pk] = text
        html, self.shown = await _render_snapshot(conversation, messages, live_texts)
        await self.send(text_data=html)

    # Browser -> server. htmx's ws extension sends the form's fields as JSON.
    async def receive(self, text_data=None, bytes_data=None):
        if text_data is None:
            await self.send_alert(NOT_TEXT)
            return
        if len(text_data) > MAX_FRAME_BYTES:
            await self.send_alert(TOO_LARGE)
            return
        try:
            data = json.loads(text_data)
        except ValueError:
            await self.send_alert(UNREADABLE)
            return
        if not isinstance(data, dict):
            await self.send_alert(UNREADABLE)
            return
        action = data.get("action")
        if action not in ACTIONS:
            await self.send_alert(UNKNOWN_ACTION)
            return
        # The sign-in this socket was opened with may have ended since (signed out elsewhere, deactivated,
        # password changed, session deleted): every action is checked again.
        if ended := await _why_not_anymore(self._session_key(), self.scope["user"], self.session.pk):
            await self.end(*ended)
            return
        try:
            await action_limit.aspend(self.session.pk)
        except action_limit.TooManyActions as exc:
            await self.send_alert(str(exc))
            return
        try:
            if action in ("message", "edit"):
                replaces = data.get("message", "") if action == "edit" else None
                posted = await actions.post_message(
                    self.session, self.scope["user"], data.get("text"), replaces=replaces
                )
                if action == "message":
                    await self.send(text_data=await async_read(chat_html.render_composer)(self.session))
                if posted.refusal:
                    await self.send_alert(posted.refusal)
            elif action in ("advance", "back"):
                await actions.move(self.session, action)
            elif action == "stop":
                await actions.pause(self.session)
            elif action == "resume":
                await actions.resume(self.session)
            elif action == "retry":
                await actions.retry(self.session)
            elif action in ("go_on", "retake"):
                await actions.request_reply(self.session, action, data.get("message"))
        except actions.Rejected as exc:
            await self.send_alert(str(exc))
            return
        except Exception:  # a bug must not close the socket: the artist keeps the page and the text
            log.exception("action %r failed in session %s", action, self.session.pk)
            await self.send_alert(INTERNAL_ERROR)
            return
        await self.refresh_conversation()
        await supervisor.wake(self.conversation_id)

    async def refresh_conversation(self):
        conversation = await async_read(Conversation.objects.current)(self.session)
        if conversation.pk != self.conversation_id:
            await self.send_snapshot()

    async def send_alert(self, text: str):
        await self.send(text_data=await sync_to_async(chat_html.render_alert)(text))

    # Channel-layer events -> browser.
    async def studio_signed_out(self, event):
        if event.get("session_key") in (None, self._session_key()):
            await self.end(SIGNED_OUT, CLOSE_UNAUTHENTICATED)

    async def studio_html(self, event):
        await self.send(text_data=event["html"])

    async def studio_message(self, event):
        message_id = event["message_id"]
        live_text = await live().get(message_id)
        html, length = await _render_message(message_id, message_id not in self.shown, live_text)
        if html is None:
            return
        self.shown[message_id] = length
        await self.send(text_data=html)

    async def studio_bubble(self, event):
        """A bubble rendered by its sender: a new one (``html`` only) or a settled one (``replace`` too)."""
        message_id, replace = event["message_id"], event.get("replace")
        if message_id in self.shown:
            if replace is None:
                return  # the snapshot this client got already had it
            html = replace
        else:
            html = event["html"]
        self.shown[message_id] = event.get("length", 0)
        await self.send(text_data=html)

    async def studio_token(self, event):
        message_id, offset, text = event["message_id"], event["offset"], event["text"]
        shown = self.shown.get(message_id)
        if shown is None:
            return  # its bubble has not reached this client yet; the bubble will carry the text
        end = offset + len(text)
        if end <= shown:
            return  # already in what this client has
        if offset > shown:
            # A gap (should not happen): resend the whole body from the live buffer.
            full = await live().get(message_id) or ""
            self.shown[message_id] = len(full)
            await self.send(text_data=await sync_to_async(chat_html.render_body)(message_id, full))
            return
        self.shown[message_id] = end
        await self.send(text_data=chat_html.render_token(message_id, text[shown - offset :]))
