"""The team bar's model picker: GET/POST sessions/<id>/team/models/."""

from django.urls import reverse

from specialists.models import Role


def url(session):
    return reverse("specialists:team_models", args=[session.pk])


def test_it_offers_each_installed_model_and_says_which_default_stands_for(alice_client, alice_session, fake_ollama):
    alice_session.model_assignments = {Role.STYLE: fake_ollama.models[1]}
    alice_session.save()
    response = alice_client.get(url(alice_session), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and html.count('name="model_') == 5
    for model in fake_ollama.models:
        assert f'value="{model}"' in html
    assert "Default (llama3.2)" in html  # LLM_DEFAULT_MODEL, installed
    assert f'<option value="{fake_ollama.models[1]}" selected>' in html


def test_it_gives_the_specialists_their_models_and_redraws_the_team_bar(alice_client, alice_session, fake_ollama):
    alice_session.settings = {"muted": [Role.STORY]}
    alice_session.save()
    data = {"model_composition": fake_ollama.models[1], "model_style": ""}
    response = alice_client.post(url(alice_session), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="team"' in html and fake_ollama.models[1] in html
    alice_session.refresh_from_db()
    assert alice_session.model_assignments == {Role.COMPOSITION: fake_ollama.models[1]}
    assert alice_session.settings == {"muted": [Role.STORY]}


def test_a_model_that_is_not_installed_is_refused_inside_the_picker(alice_client, alice_session, fake_ollama):
    alice_session.model_assignments = {Role.STYLE: fake_ollama.models[0]}
    alice_session.save()
    response = alice_client.post(url(alice_session), {"model_style": "evil<script>"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert response.headers["HX-Retarget"] == "#team-models-panel"
    assert response.headers["HX-Reswap"] == "innerHTML"
    assert "evil<script>" not in response.content.decode()
    alice_session.refresh_from_db()
    assert alice_session.model_assignments == {Role.STYLE: fake_ollama.models[0]}


def test_without_htmx_it_redirects_to_the_studio(alice_client, alice_session, fake_ollama):
    response = alice_client.post(url(alice_session), {"model_story": fake_ollama.models[0]})
    assert response.status_code == 302 and response.url == alice_session.get_absolute_url()


def test_it_rejects_another_users_session(client, bob, alice_session, fake_ollama):
    alice_session.model_assignments = {Role.STYLE: fake_ollama.models[0]}
    alice_session.save()
    client.force_login(bob)
    assert client.get(url(alice_session)).status_code == 404
    assert client.post(url(alice_session), {"model_style": fake_ollama.models[1]}).status_code == 404
    alice_session.refresh_from_db()
    assert alice_session.model_assignments == {Role.STYLE: fake_ollama.models[0]}


def test_it_is_rate_limited_like_every_action(alice_client, alice_session, fake_ollama, actions_used_up):
    actions_used_up(alice_session)
    response = alice_client.post(url(alice_session), {"model_style": fake_ollama.models[1]}, HTTP_HX_REQUEST="true")
    assert response.status_code == 429
    alice_session.refresh_from_db()
    assert alice_session.model_assignments == {}
