from django.urls import reverse

from generations.models import Generation

from .test_gallery_view import stored_output


def test_it_needs_a_finished_image(alice_client, make_generation, fake_comfyui):
    generation = make_generation()
    response = alice_client.post(reverse("generations:rework", args=[generation.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "only a finished image can be reworked" in response.content.decode()
    assert Generation.objects.count() == 1


def test_a_plain_form_post_that_is_refused_goes_back_to_the_session_and_says_why(alice_client, make_generation):
    generation = make_generation()

    response = alice_client.post(reverse("generations:rework", args=[generation.pk]), follow=True)

    assert response.redirect_chain == [(generation.session.get_absolute_url(), 302)]
    assert [str(message) for message in response.context["messages"]] == ["only a finished image can be reworked."]
    assert Generation.objects.count() == 1


def test_it_starts_an_img2img_from_the_image(
    alice_client, make_generation, fake_comfyui, django_capture_on_commit_callbacks
):
    generation = make_generation()
    stored_output(generation)
    Generation.objects.filter(pk=generation.pk).update(status="complete")
    with django_capture_on_commit_callbacks(execute=False):
        alice_client.post(reverse("generations:rework", args=[generation.pk]), HTTP_HX_REQUEST="true")
    new = Generation.objects.exclude(pk=generation.pk).get()
    assert new.template == "img2img" and new.source == generation
    assert any(node["class_type"] == "LoadImage" for node in new.workflow.values())


def test_it_rejects_another_users_generation(client, bob, make_generation, fake_comfyui):
    generation = make_generation()
    stored_output(generation)
    Generation.objects.filter(pk=generation.pk).update(status="complete")
    client.force_login(bob)
    assert client.post(reverse("generations:rework", args=[generation.pk])).status_code == 404
    assert Generation.objects.count() == 1 and not fake_comfyui.uploads


def test_it_is_refused_over_the_sessions_action_limit_and_starts_nothing(
    alice_client, make_generation, fake_comfyui, actions_used_up
):
    from tests.fixtures.users import LIMIT_SENTENCE

    generation = make_generation()
    stored_output(generation)
    Generation.objects.filter(pk=generation.pk).update(status="complete")
    actions_used_up(generation.session)
    response = alice_client.post(reverse("generations:rework", args=[generation.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 429 and LIMIT_SENTENCE in response.content.decode()
    assert Generation.objects.count() == 1
