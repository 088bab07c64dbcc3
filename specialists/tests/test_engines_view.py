"""The Engines page: what check_engines reports, in the browser, refreshed while it is open."""

import re

import pytest
from django.urls import reverse

URL = reverse("specialists:engines")


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create(username="keeper", is_staff=True))
    return client


def test_it_shows_every_engine_what_it_offers_and_that_all_is_ready(admin_client, fake_ollama, fake_comfyui):
    page = admin_client.get(URL).content.decode()
    assert "Ready: everything the studio needs is there." in page
    assert f"Ollama at {fake_ollama.url}" in page and "llama3.2:latest" in page and "qwen2.5:7b" in page
    assert f"ComfyUI at {fake_comfyui.url}" in page
    assert 'SDXL (and Pony, Illustrious)</strong>\n        <span class="badge badge-ok">ready</span>' in page
    assert "not installed — needs wan2.1_t2v_1.3B_fp16.safetensors in ComfyUI/models/diffusion_models" in page
    assert f'hx-get="{URL}" hx-trigger="every 15s"' in page


def test_it_says_what_is_down_and_how_to_fix_it(admin_client, fake_ollama, fake_comfyui, dead_url, settings):
    settings.COMFYUI_URLS = [fake_comfyui.url, dead_url]
    page = admin_client.get(URL).content.decode()
    assert "Not ready: fix what is listed below." in page
    missing = page.split("<h2>Missing</h2>", 1)[1].split("</section>", 1)[0]
    assert dead_url in missing and "COMFYUI_URLS" in missing
    assert f'ComfyUI at {dead_url} <span class="badge badge-error">down</span>' in page


def test_a_refresh_gets_the_report_alone_to_swap_in(admin_client, fake_ollama, fake_comfyui):
    fragment = admin_client.get(URL, HTTP_HX_REQUEST="true").content.decode()
    page = admin_client.get(URL).content.decode()
    assert fragment.startswith('<div id="engines"') and "<html" not in fragment
    assert page.startswith("<!doctype html>") and '<div id="engines"' in page
    assert re.search(r'"X-CSRFToken": "\w+"', page)  # the page's own requests still pass the CSRF check


def test_model_text_from_an_engine_is_escaped(admin_client, fake_ollama, fake_comfyui):
    fake_comfyui.set_checkpoints(['<img src=x onerror="alert(1)">.safetensors'])
    page = admin_client.get(URL).content.decode()
    assert "&lt;img src=x" in page and "<img src=x" not in page


def test_it_is_for_whoever_runs_the_install_not_every_artist(alice_client, fake_ollama, fake_comfyui):
    response = alice_client.get(URL)
    assert response.status_code == 403
    assert "<p>Only the studio&#x27;s administrator sees the engines.</p>" in response.content.decode()
    assert 'href="/engines/"' not in alice_client.get(reverse("specialists:home")).content.decode()


def test_the_local_user_of_a_loopback_install_sees_it(client, db, fake_ollama, fake_comfyui):
    assert client.get(URL, REMOTE_ADDR="127.0.0.1").status_code == 200
    assert 'href="/engines/"' in client.get("/", REMOTE_ADDR="127.0.0.1").content.decode()
