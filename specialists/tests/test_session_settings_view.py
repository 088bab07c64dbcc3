from django.urls import reverse


def url(session):
    return reverse("specialists:session_settings", args=[session.pk])


def test_it_offers_every_installed_model_for_each_specialist(alice_client, alice_session, fake_ollama):
    html = alice_client.get(url(alice_session)).content.decode()
    for model in fake_ollama.models:
        assert f'value="{model}"' in html
    assert html.count('name="model_') == 5
    assert html.count("Default (llama3.2)") == 5  # each "Default" says which model it stands for


def test_it_assigns_models_and_conversation_settings(alice_client, alice_session, fake_ollama):
    data = {
        "title": "Renamed",
        "model_style": fake_ollama.models[1],
        "model_critic": fake_ollama.models[0],
        "ideation_rounds": "3",
        "refinement_rounds": "2",
        "concurrent": "on",
        "auto_continue": "on",
    }
    response = alice_client.post(url(alice_session), data)
    assert response.status_code == 302
    alice_session.refresh_from_db()
    assert alice_session.title == "Renamed"
    assert alice_session.model_assignments == {"style": fake_ollama.models[1], "critic": fake_ollama.models[0]}
    assert alice_session.settings["rounds"] == {"ideation": 3, "refinement": 2}
    assert alice_session.settings["concurrent"] is True
    assert alice_session.settings["auto_continue"] is True


def test_it_rejects_a_model_that_is_not_installed(alice_client, alice_session, fake_ollama):
    data = {"title": "x", "model_style": "evil<script>", "ideation_rounds": "2", "refinement_rounds": "1"}
    response = alice_client.post(url(alice_session), data)
    assert response.status_code == 400
    alice_session.refresh_from_db()
    assert alice_session.model_assignments == {}


def test_it_rejects_out_of_range_rounds(alice_client, alice_session, fake_ollama):
    data = {"title": "x", "ideation_rounds": "99", "refinement_rounds": "1"}
    assert alice_client.post(url(alice_session), data).status_code == 400


def test_it_says_when_ollama_is_down(alice_client, alice_session, fake_ollama, settings, dead_url):
    from specialists.services import llm

    settings.OLLAMA_URL = dead_url
    llm.reset_clients()
    html = alice_client.get(url(alice_session)).content.decode()
    assert "not reachable" in html


def test_it_rejects_another_users_session(client, bob, alice_session, fake_ollama):
    client.force_login(bob)
    assert client.get(url(alice_session)).status_code == 404
    data = {"title": "pwned", "ideation_rounds": "3", "refinement_rounds": "2", "model_style": fake_ollama.models[0]}
    assert client.post(url(alice_session), data).status_code == 404
    alice_session.refresh_from_db()
    assert alice_session.title == "Lighthouse at dusk"
    assert alice_session.settings == {} and alice_session.model_assignments == {}


def test_it_is_refused_over_the_sessions_action_limit_and_changes_nothing(
    alice_client, alice_session, fake_ollama, actions_used_up
):
    from tests.fixtures.users import LIMIT_SENTENCE

    actions_used_up(alice_session)
    data = {"title": "Renamed", "ideation_rounds": "3", "refinement_rounds": "2"}
    response = alice_client.post(url(alice_session), data, follow=True)
    assert LIMIT_SENTENCE in response.content.decode()
    alice_session.refresh_from_db()
    assert alice_session.title == "Lighthouse at dusk" and alice_session.settings == {}


def test_each_model_is_offered_with_what_its_engine_says_it_can_do(alice_client, alice_session, fake_ollama):
    fake_ollama.models = ["llava:7b", "gemma3:1b", "qwen3:8b"]
    html = alice_client.get(url(alice_session)).content.decode()
    assert "llava:7b — sees images</option>" in html
    assert "gemma3:1b — text only</option>" in html
    assert "qwen3:8b — thinks first, uses tools</option>" in html
