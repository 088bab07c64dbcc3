"""Which ComfyUI runs a job, with three fake servers on real sockets that have different models."""

import pytest

from generations.models import Generation
from generations.services import placement
from generations.services.brief import normalize_brief
from generations.services.catalog import get_catalog
from generations.workflows import TEMPLATES
from tests.fakes.comfyui import FakeComfyUI
from tests.fixtures.render_farm import BRIEF

pytestmark = pytest.mark.django_db

SDXL = "sd_xl_base_1.0.safetensors"
SD15 = "v1-5-pruned-emaonly.safetensors"


def graph_for(checkpoint: str) -> dict:
    return TEMPLATES["txt2img"]({**normalize_brief(BRIEF, get_catalog())[0], "checkpoint": checkpoint}, prefix="t")


def busy(make_generation, server: str, *, progress: float = 0.0) -> None:
    generation = make_generation()
    Generation.objects.filter(pk=generation.pk).update(server=server, status="running", progress=progress)


def test_a_job_goes_only_to_a_server_that_has_its_model(comfyui_farm, make_generation):
    a, b, c = comfyui_farm([SDXL], [SDXL, SD15], [SD15])
    assert placement.choose_server(graph_for(SD15)) == (1, b.url)  # a has no SD1.5; b is first of the equal two
    busy(make_generation, b.url)
    assert placement.choose_server(graph_for(SD15)) == (2, c.url)
    busy(make_generation, c.url)
    busy(make_generation, c.url)
    # a is idle but cannot run it: the less busy of the two that can
    assert placement.choose_server(graph_for(SD15)) == (1, b.url)
    assert placement.choose_server(graph_for(SDXL)) == (0, a.url)


def test_a_server_that_does_not_answer_gets_no_job(comfyui_farm, make_generation):
    a, b, c = comfyui_farm([SDXL], [SDXL, SD15], [SD15])
    for _ in range(3):
        busy(make_generation, c.url)
    b.stop()
    assert placement.choose_server(graph_for(SD15)) == (2, c.url)
    assert placement.alternative(graph_for(SD15), instead_of=c.url) is None
    assert placement.alternative(graph_for(SDXL), instead_of=b.url) == a.url


def test_a_graph_goes_to_the_server_that_has_its_nodes(comfyui_farm):
    a, b, c = comfyui_farm([SDXL, SD15], [SDXL, SD15], [SDXL, SD15])
    a.remove_nodes("KSampler")
    b.remove_nodes("KSampler")
    assert placement.choose_server(graph_for(SDXL)) == (2, c.url)


def test_with_no_server_able_and_answering_the_least_busy_of_all_waits_for_it(comfyui_farm, make_generation):
    a, b, c = comfyui_farm([SDXL], [SDXL], [SDXL])
    busy(make_generation, a.url)
    for fake in (a, b, c):
        fake.stop()
    assert placement.choose_server(graph_for(SDXL)) == (1, b.url)


def test_health_is_asked_once_for_a_few_seconds_of_jobs(comfyui_farm):
    a, b, c = comfyui_farm([SDXL], [SDXL], [SDXL])
    for _ in range(5):
        placement.choose_server(graph_for(SDXL))
    assert [fake.hits("/system_stats") for fake in (a, b, c)] == [1, 1, 1]
    placement.forget(a.url)
    assert placement.is_up(a.url) and a.hits("/system_stats") == 2


def test_with_one_server_nothing_is_asked(fake_comfyui):
    assert placement.choose_server(graph_for(SDXL)) == (0, fake_comfyui.url)
    assert fake_comfyui.hits("/system_stats") == 0


def test_a_server_back_from_a_restart_is_read_again(comfyui_farm):
    a, b = comfyui_farm([SDXL], [SD15])
    assert get_catalog(a.url).checkpoints == [SDXL]
    port = a.port
    a.stop()
    assert not placement.is_up(a.url)
    restarted = FakeComfyUI(port=port, checkpoints=[SDXL, "flux1-schnell-fp8.safetensors"]).start()
    try:
        assert placement.is_up(a.url, fresh=True)
        assert get_catalog(a.url).checkpoints == [SDXL, "flux1-schnell-fp8.safetensors"]
    finally:
        restarted.stop()


def test_the_farm_offers_what_any_answering_server_has(comfyui_farm):
    a, b, c = comfyui_farm([SDXL], [SD15], ["flux1-schnell-fp8.safetensors"])
    c.stop()
    farm = get_catalog()
    assert farm.available and farm.checkpoints == [SDXL, SD15]


def test_a_workflow_no_server_can_run_is_refused_naming_each_server_and_the_fix(comfyui_farm):
    a, b = comfyui_farm([SDXL], [SDXL])
    refusal = placement.refusal(graph_for("juggernautXL_v9.safetensors"))
    assert refusal.startswith("No ComfyUI server can run this workflow.")
    for fake in (a, b):
        assert f"ComfyUI at {fake.url} does not have the checkpoint juggernautXL_v9.safetensors" in refusal
    assert "ComfyUI/models/checkpoints" in refusal and "put the file there" in refusal
    assert placement.refusal(graph_for(SDXL)) is None


@pytest.mark.parametrize(
    ("node", "value", "words"),
    [
        ("KSampler", {"sampler_name": "euler_fancy"}, ["has no 'euler_fancy' for KSampler's sampler_name", "dpmpp_2m"]),
        ("CheckpointLoaderSimple", {"ckpt_name": "x.safetensors"}, ["checkpoint x.safetensors", "models/checkpoints"]),
    ],
)
def test_a_value_the_server_does_not_offer_is_named_with_the_ones_it_does(fake_comfyui, node, value, words):
    graph = graph_for(SDXL)
    [node_id] = [key for key, each in graph.items() if each["class_type"] == node]
    graph[node_id]["inputs"].update(value)
    refusal = placement.refusal(graph)
    for word in words:
        assert word in refusal


def test_a_server_that_cannot_be_read_is_not_judged(settings):
    settings.COMFYUI_URLS = ["http://127.0.0.1:9"]
    placement.forget("http://127.0.0.1:9")
    assert placement.refusal(graph_for("anything.safetensors")) is None


def test_of_servers_that_cannot_be_asked_the_least_busy_gets_the_next_generation(settings, make_generation):
    settings.COMFYUI_URLS = ["http://gpu-a:8188", "http://gpu-b:8188"]
    busy = make_generation()
    Generation.objects.filter(pk=busy.pk).update(server="http://gpu-a:8188", status="running")
    assert placement.choose_server() == (1, "http://gpu-b:8188")
    Generation.objects.filter(pk=busy.pk).update(status="complete")
    assert placement.choose_server() == (0, "http://gpu-a:8188")


def test_of_two_servers_with_one_job_each_the_one_further_into_it_gets_the_next(settings, make_generation):
    settings.COMFYUI_URLS = ["http://gpu-a:8188", "http://gpu-b:8188"]
    on_a, on_b = make_generation(), make_generation()
    Generation.objects.filter(pk=on_a.pk).update(server="http://gpu-a:8188", status="running", progress=0.2)
    Generation.objects.filter(pk=on_b.pk).update(server="http://gpu-b:8188", status="running", progress=0.9)
    assert placement.choose_server() == (1, "http://gpu-b:8188")
    waiting = make_generation()
    Generation.objects.filter(pk=waiting.pk).update(server="http://gpu-b:8188", status="queued")
    assert placement.choose_server() == (0, "http://gpu-a:8188")  # b: 0.1 + a whole job left, a: 0.8
