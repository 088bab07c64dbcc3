"""The web process killed with SIGKILL while it runs a generation (in-process jobs), then started again.

A real daphne on a data folder of its own (SQLite), the fake ComfyUI of this test process slowed
down so the job is still running when the process dies. Nobody opens a page: the studio's
supervisor starts with the server and takes the job back at once, instead of waiting for the
dead process's heartbeat to go stale.
"""

import json
import subprocess
import sys
import time

import pytest

from generations.services.runner import STALE_AFTER
from tests.faults.conftest import wait_until
from tests.processes import REPO, LoggedProcess, clean_environment, free_port, wait_listening

RESUME_WITHIN_SECONDS = 10

# A queued job with its card, stored the way a Generate leaves it (without handing it to this
# short-lived shell's own pool): the studio started next finds it.
CREATE = """
import json
from django.contrib.auth import get_user_model
from generations.models import Generation
from generations.services.brief import normalize_brief
from generations.services.catalog import get_catalog
from generations.workflows import TEMPLATES
from specialists.models import Conversation, Message
from specialists.services.sessions import start_session
user, _ = get_user_model().objects.get_or_create(username="local")
session = start_session(user, "Killed mid-job", "a fox in snow")
brief, _ = normalize_brief(
    {"positive_prompt": "a fox in snow", "width": 512, "height": 512, "steps": 40, "seed": 7}, get_catalog()
)
generation = Generation.objects.create(session=session, parameters=brief)
generation.workflow = TEMPLATES["txt2img"](brief, prefix=f"k{generation.pk}")
generation.save()
Conversation.objects.current(session).append_message("system", "", kind=Message.Kind.GENERATION, generation=generation)
print(json.dumps({"generation": generation.pk}))
"""

STATUS = """
import json
from generations.models import Generation
g = Generation.objects.get(pk={pk})
print(json.dumps({{"status": g.status, "attempts": g.attempts, "error": g.error}}))
"""


def manage(env, *args) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


@pytest.fixture
def studio_env(tmp_path, fake_comfyui):
    env = clean_environment()
    env.update(
        STUDIO_DATA_DIR=str(tmp_path / "data"),
        COMFYUI_URLS=fake_comfyui.url,
        OLLAMA_URL=f"http://127.0.0.1:{free_port()}",  # nobody: the conversation is not what this is about
        LLM_EMBEDDED_ENABLED="0",
        GENERATION_JOBS_IN_PROCESS="1",
        COMFYUI_SHARES_GPU="none",
    )
    manage(env, "migrate", "--noinput")
    return env


def daphne(env, tmp_path, port: int) -> LoggedProcess:
    argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "studio.asgi:application"]
    process = LoggedProcess("daphne", argv, env, tmp_path / "daphne.log").start()
    wait_listening(port, process, timeout=60)  # no request: what runs, runs because the server started
    return process


def test_a_job_running_in_the_killed_web_process_resumes_within_seconds_of_the_restart(
    studio_env, tmp_path, fake_comfyui
):
    fake_comfyui.step_delay = 0.25  # 40 steps: about 10 s, so the kill lands mid-job
    port = free_port()
    generation_id = json.loads(manage(studio_env, "shell", "-c", CREATE))["generation"]
    first = daphne(studio_env, tmp_path, port)  # no page is ever opened
    try:
        run_kill_and_restart(studio_env, tmp_path, fake_comfyui, port, first, generation_id)
    finally:
        first.stop()


def run_kill_and_restart(studio_env, tmp_path, fake_comfyui, port, first, generation_id) -> None:
    def status() -> dict:
        return json.loads(manage(studio_env, "shell", "-c", STATUS.format(pk=generation_id)))

    # The job reaches the studio's supervisor, which hands it to the pool: it runs on ComfyUI.
    wait_until(lambda: status()["status"] == "running" and fake_comfyui.prompts, 30, "the job to start running")
    first.kill9()
    assert status()["status"] == "running"  # left behind with a fresh heartbeat

    restarted_at = time.monotonic()
    second = daphne(studio_env, tmp_path, port)
    try:
        # Taken back at start, not after the dead process's heartbeat went stale (STALE_AFTER, 60 s).
        wait_until(lambda: status()["attempts"] == 2, RESUME_WITHIN_SECONDS, "the restarted studio to take it back")
        assert time.monotonic() - restarted_at < min(RESUME_WITHIN_SECONDS, STALE_AFTER.total_seconds())
        wait_until(lambda: status()["status"] == "complete", 30, "the job to complete")
    finally:
        second.stop()
