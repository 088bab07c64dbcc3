from urllib.parse import urlsplit

from django.test import Client


def test_it_reports_a_reachable_database_and_channel_layer(db):
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": True, "channel_layer": True}
    assert "no-cache" in response["Cache-Control"]


def test_it_answers_without_a_sign_in_when_the_studio_is_exposed(db, settings):
    settings.LOCAL_AUTO_LOGIN = False
    response = Client().get("/healthz", REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_it_answers_503_when_the_channel_layer_cannot_be_reached(db, settings, dead_url):
    port = urlsplit(dead_url).port
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{port}/0"]},
        }
    }
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": True, "channel_layer": False}


def test_it_only_answers_get(db):
    assert Client().post("/healthz").status_code == 405
