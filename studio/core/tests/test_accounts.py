"""Whether a browser's sign-in still stands: what the websocket asks before every action."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from studio.core.services.accounts import still_signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(alice):
    browser = Client()
    browser.force_login(alice)
    return browser.session.session_key


def test_a_standing_sign_in_stands(alice, signed_in):
    assert still_signed_in(signed_in, alice.pk)


def test_no_session_is_no_sign_in(alice):
    assert not still_signed_in(None, alice.pk)
    assert not still_signed_in("", alice.pk)
    assert not still_signed_in("no-such-session", alice.pk)


def test_a_session_of_another_user_does_not_count(alice, bob, signed_in):
    assert not still_signed_in(signed_in, bob.pk)


def test_a_deactivated_user_is_signed_out(alice, signed_in):
    get_user_model().objects.filter(pk=alice.pk).update(is_active=False)
    assert not still_signed_in(signed_in, alice.pk)


def test_a_deleted_user_is_signed_out(alice, signed_in):
    get_user_model().objects.filter(pk=alice.pk).delete()
    assert not still_signed_in(signed_in, alice.pk)


def test_a_changed_password_ends_every_other_sign_in(alice, signed_in):
    alice.set_password("a new secret phrase")
    alice.save()
    assert not still_signed_in(signed_in, alice.pk)


def test_a_sign_in_is_checked_against_its_own_user_among_many(alice, bob):
    browser = Client()
    browser.force_login(bob)  # alice, made first, is the first user by id

    assert still_signed_in(browser.session.session_key, bob.pk)


@pytest.mark.parametrize(("staff", "superuser"), [(False, False), (True, False), (False, True)])
def test_a_local_user_made_before_it_ran_the_admin_is_given_it(db, settings, staff, superuser):
    from studio.core.services.accounts import local_user

    made = get_user_model().objects.create_user(settings.LOCAL_USERNAME, is_staff=staff, is_superuser=superuser)

    user = local_user()

    stored = get_user_model().objects.get(pk=made.pk)
    assert user.pk == made.pk and (user.is_staff, user.is_superuser) == (True, True)
    assert (stored.is_staff, stored.is_superuser) == (True, True)


def test_the_local_user_is_made_once_without_a_usable_password(db, settings):
    from studio.core.services.accounts import local_user

    first, again = local_user(), local_user()

    stored = get_user_model().objects.get(username=settings.LOCAL_USERNAME)
    assert first.pk == again.pk == stored.pk
    assert (stored.is_staff, stored.is_superuser, stored.has_usable_password()) == (True, True, False)
