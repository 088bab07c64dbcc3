import asyncio

from django.core.management.base import BaseCommand, CommandError

from specialists.models import Conversation
from specialists.personas import PERSONAS
from specialists.services.replay import replay_conversation


class Command(BaseCommand):
    help = "Re-run a stored conversation's user messages through the current models into a new conversation."

    def add_arguments(self, parser):
        parser.add_argument("conversation_id", type=int)
        parser.add_argument(
            "--model",
            action="append",
            default=[],
            metavar="ROLE=MODEL",
            help=f"use another model for a specialist; roles: {', '.join(PERSONAS)} (repeatable)",
        )

    def handle(self, *args, conversation_id, model, **options):
        overrides = {}
        for item in model:
            role, sep, name = item.partition("=")
            if not sep or role not in PERSONAS or not name.strip():
                raise CommandError(f"--model takes ROLE=MODEL with ROLE one of {', '.join(PERSONAS)}; got {item!r}")
            overrides[role] = name.strip()
        if not Conversation.objects.filter(pk=conversation_id).exists():
            raise CommandError(f"conversation {conversation_id} does not exist")
        replay = asyncio.run(replay_conversation(conversation_id, overrides, report=self.stdout.write))
        self.stdout.write(self.style.SUCCESS(f"Done: conversation {replay.pk} in session {replay.session_id}"))
