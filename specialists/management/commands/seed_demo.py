from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from specialists.services.demo import seed_demo
from studio.core.services.accounts import local_user


class Command(BaseCommand):
    help = "Create a demo session with a finished conversation and generations (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--user", help=f"owner's username (default: the local user, {settings.LOCAL_USERNAME!r})")

    def handle(self, *args, user=None, **options):
        if user:
            owner = get_user_model().objects.filter(username=user).first()
            if owner is None:
                raise CommandError(f"no user named {user!r}")
        else:
            owner = local_user()
        session, created = seed_demo(owner)
        verb = "Created" if created else "Already there:"
        self.stdout.write(self.style.SUCCESS(f"{verb} “{session.title}” — /sessions/{session.pk}/"))
