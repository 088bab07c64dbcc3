"""A signed-out or deactivated user's open websockets close: a socket must not outlive its sign-in."""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from studio.core.services.broadcast import sign_out_sockets_sync


@receiver(user_logged_out)
def _signed_out(sender, request, user, **kwargs):
    if user is not None:
        key = request.session.session_key if request is not None else None
        sign_out_sockets_sync(user.pk, key)


@receiver(post_save, sender=get_user_model())
def _deactivated(sender, instance, created, **kwargs):
    if not created and not instance.is_active:
        user_id = instance.pk
        transaction.on_commit(lambda: sign_out_sockets_sync(user_id))


@receiver(post_delete, sender=get_user_model())
def _deleted(sender, instance, **kwargs):
    user_id = instance.pk
    transaction.on_commit(lambda: sign_out_sockets_sync(user_id))
