"""Shared pieces for the fault tests: engines that really go away, and a session to talk to.

Every fault is made with real sockets and real processes: a fake Ollama that is killed with
SIGKILL and started again on the same port, a fake ComfyUI that hangs or errors, a Celery
worker that dies. The studio is driven through its websocket (studio.asgi.application).
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from specialists.models import Conversation, Message
from studio.core.models import Session
from tests.fakes.ollama_control import FakeOllamaControl
from tests.fixtures.conversations import messages_of, settle, stored_when  # noqa: F401 - the fault tests' helpers
from tests.processes import free_port

REPO = Path(__file__).resolve().parents[2]


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05):
    """The predicate's first true value."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
    return value


async def async_wait_until(predicate, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


class OllamaProcess(FakeOllamaControl):
    """The fake Ollama's CLI in its own process, on a fixed port, so it can be killed and come back."""

    def __init__(self, port: int, token_delay: float, log_path: Path):
        super().__init__(f"http://127.0.0.1:{port}")
        self.port, self.token_delay, self.log_path = port, token_delay, log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> "OllamaProcess":
        argv = [
            sys.executable,
            "-m",
            "tests.fakes.ollama",
            "--port",
            str(self.port),
            "--token-delay",
            str(self.token_delay),
            "--models",
            "llama3.2,qwen2.5:7b",
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self._answers, 30, f"the fake Ollama on {self.url}")
        return self

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the fake Ollama exited: {self.log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/api/version", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: open connections are cut mid-stream, as when Ollama crashes or runs out of memory."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


class ComfyUIProcess:
    """The fake ComfyUI's CLI in its own process, on a fixed port, so it can be killed and started again.

    Like a real ComfyUI it keeps nothing across a restart: queue, history and running prompt are gone.
    """

    def __init__(self, port: int, log_path: Path, *, step_delay: float, steps: int | None):
        self.port, self.log_path, self.step_delay, self.steps = port, log_path, step_delay, steps
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "ComfyUIProcess":
        argv = [
            sys.executable,
            "-m",
            "tests.fakes.comfyui",
            "--port",
            str(self.port),
            "--step-delay",
            str(self.step_delay),
        ]
        if self.steps is not None:
            argv += ["--steps", str(self.steps)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self._answers, 30, f"the fake ComfyUI on {self.url}")
        return self

    def _get(self, path: str):
        with urllib.request.urlopen(f"{self.url}{path}", timeout=2) as response:
            return json.load(response)

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the fake ComfyUI exited: {self.log_path.read_text()[-2000:]}")
        try:
            self._get("/system_stats")
            return True
        except OSError:
            return False

    def running_prompt_ids(self) -> list[str]:
        return [entry[1] for entry in self._get("/queue")["queue_running"]]

    def history(self) -> dict:
        return self._get("/history")

    def kill(self) -> None:
        """SIGKILL: the websocket and any request in flight are cut, as when ComfyUI crashes or is restarted."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def comfyui_process(tmp_path, settings):
    """A factory: comfyui_process(step_delay=..., steps=...) -> ComfyUIProcess on a reserved port, not started
    yet; the studio's only ComfyUI."""
    from generations.services import catalog

    made: list[ComfyUIProcess] = []

    def make(step_delay: float = 0.01, steps: int | None = None) -> ComfyUIProcess:
        fake = ComfyUIProcess(
            free_port(), tmp_path / f"fake-comfyui-{len(made)}.log", step_delay=step_delay, steps=steps
        )
        made.append(fake)
        settings.COMFYUI_URLS = [fake.url]
        settings.COMFYUI_SHARES_GPU = "none"
        catalog.clear_cache(fake.url)
        return fake

    yield make
    for fake in made:
        fake.kill()
        catalog.clear_cache(fake.url)


@pytest.fixture
def ollama_process(tmp_path, settings):
    """A factory: ollama_process(token_delay=...) -> OllamaProcess on a reserved port, not started yet.

    The studio points at it (auto backend, no fallback engine), exactly as a local install would.
    """
    from specialists.services import llm

    made: list[OllamaProcess] = []

    def make(token_delay: float = 0.0) -> OllamaProcess:
        fake = OllamaProcess(free_port(), token_delay, tmp_path / f"fake-ollama-{len(made)}.log")
        made.append(fake)
        settings.OLLAMA_URL = fake.url
        settings.LLM_BACKEND = "auto"
        settings.LLM_EMBEDDED_ENABLED = False
        settings.OPENAI_BASE_URL = ""
        settings.LLM_DEFAULT_MODEL = "llama3.2"
        llm.reset_clients()
        return fake

    yield make
    for fake in made:
        fake.kill()
    llm.reset_clients()


@sync_to_async
def make_session(user, idea: str | None = None, **fields) -> Session:
    session = Session.objects.create(owner=user, title="Lighthouse", **fields)
    conversation = Conversation.objects.create(session=session)
    if idea:
        conversation.append_message("user", idea)
    return session


def _read_apart(session) -> list[Message]:
    from django.db import connection

    try:
        return list(Message.objects.filter(conversation__session=session).order_by("conversation_id", "order"))
    finally:
        connection.close()


# Reads on a thread and connection of its own: never touches (or repairs) the studio's connection.
messages_of_apart = sync_to_async(_read_apart, thread_sensitive=False)


def frames_mentioning(view, text: str) -> list[str]:
    return view.mentioning(text)
