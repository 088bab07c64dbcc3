from django.urls import reverse

from generations.models import Generation


def test_it_keeps_the_parameters_and_the_seed(
    alice_client, alice_session, make_generation, fake_comfyui, django_capture_on_commit_callbacks
):
    generation = make_generation()
    with django_capture_on_commit_callbacks(execute=False):
        response = alice_client.post(reverse("generations:reproduce", args=[generation.pk]))
    assert response.status_code == 302 and response["Location"] == alice_session.get_absolute_url()
    new = Generation.objects.exclude(pk=generation.pk).get()
    assert new.parameters == generation.parameters
    assert new.template == generation.template


def test_it_rejects_another_users_generation(client, bob, make_generation, fake_comfyui):
    generation = make_generation()
    client.force_login(bob)
    assert client.post(reverse("generations:reproduce", args=[generation.pk])).status_code == 404
    assert Generation.objects.count() == 1


def test_it_is_refused_over_the_sessions_action_limit_and_says_so_on_the_page(
    alice_client, alice_session, make_generation, fake_comfyui, actions_used_up
):
    from tests.fixtures.users import LIMIT_SENTENCE

    generation = make_generation()
    actions_used_up(alice_session)
    response = alice_client.post(reverse("generations:reproduce", args=[generation.pk]), follow=True)
    assert LIMIT_SENTENCE in response.content.decode()
    assert Generation.objects.count() == 1
