"""Which ComfyUI servers share the GPU with the language model, and freeing the ones that hold it."""

import pytest

from generations.services import gpu


@pytest.mark.parametrize(
    ("choice", "server", "ollama", "shares"),
    [
        ("auto", "http://127.0.0.1:8188", "http://localhost:11434", True),
        ("auto", "http://[::1]:8188", "http://127.0.0.1:11434", True),
        ("auto", "http://gpu-box:8188", "http://gpu-box:11434", True),
        ("auto", "http://gpu-box:8188", "http://127.0.0.1:11434", False),
        ("none", "http://127.0.0.1:8188", "http://127.0.0.1:11434", False),
        ("all", "http://render-farm:8188", "http://127.0.0.1:11434", True),
        ("http://a:8188, http://b:8188/", "http://b:8188", "http://127.0.0.1:11434", True),
        ("http://a:8188,http://b:8188", "http://c:8188", "http://c:11434", False),
    ],
)
def test_which_servers_share_the_gpu(settings, choice, server, ollama, shares):
    settings.COMFYUI_SHARES_GPU, settings.OLLAMA_URL, settings.OPENAI_BASE_URL = choice, ollama, ""
    assert gpu.shares_gpu(server) is shares


def test_a_server_that_ran_a_job_is_asked_to_free_its_models_once(settings, fake_comfyui):
    settings.COMFYUI_SHARES_GPU = "all"
    assert gpu.free_held() == []
    gpu.mark_held(fake_comfyui.url)
    assert gpu.free_held() == [fake_comfyui.url]
    assert gpu.free_held() == []
    assert [f["body"] for f in fake_comfyui.frees] == [{"unload_models": True, "free_memory": True}]


def test_a_server_that_shares_nothing_is_never_asked(settings, fake_comfyui):
    gpu.mark_held(fake_comfyui.url)
    assert gpu.free_held() == [] and fake_comfyui.frees == []


def test_an_unreachable_server_stays_marked_and_the_team_goes_on(settings, dead_url):
    settings.COMFYUI_SHARES_GPU, settings.COMFYUI_URLS = "all", [dead_url]
    gpu.mark_held(dead_url)
    assert gpu.free_held() == []
    settings.COMFYUI_SHARES_GPU = "none"  # and the mark is still there for when it is back
    from django.core.cache import cache

    assert cache.get(gpu.HELD_KEY.format(server=dead_url)) is True
