"""The browser-test harness: a real studio on loopback, real fake engines, Debian's chromium.

One set of processes serves the whole e2e run:
  fake Ollama (tests.fakes.ollama CLI) and fake ComfyUI (tests.fakes.comfyui CLI) on free ports,
  a fresh data dir (SQLite file + media), `manage.py migrate`, daphne on a free port and, when
  DATABASE_URL and REDIS_URL are both set, a throwaway PostgreSQL database and a real Celery worker.
Every process writes to <test output>/e2e-logs/<mode>/<name>.log; a failing test gets their tails in its report.

These tests only run when selected with `-m e2e` (see pytest_collection_modifyitems), so a plain
`pytest` over the repository never starts a browser.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fakes.ollama_control import FakeOllamaControl
from tests.processes import LoggedProcess, clean_environment, free_port, wait_http, wait_log

REPO = Path(__file__).resolve().parents[2]
# Outside the repository: scripts/test.sh names one folder per run; a bare pytest run gets a new one.
ARTIFACTS = Path(os.environ.get("STUDIO_TEST_OUTPUT") or tempfile.mkdtemp(prefix="studio-e2e-"))
SCALED = bool(os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))
# CI runs the suite in both modes; each keeps its own screenshots and logs.
MODE = "scaled" if SCALED else "in-process"
LOG_DIR = ARTIFACTS / "e2e-logs" / MODE
SHOT_DIR = ARTIFACTS / "screenshots" / MODE
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Visible streaming that still finishes quickly: ~35 tokens per reply, ~0.1 s per step.
TOKEN_DELAY = 0.03
STEP_DELAY = 0.1
MODELS = ["llama3.2", "qwen2.5:7b", "llava:7b"]
CHECKPOINTS = ["sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors", "svd_xt_1_1.safetensors"]
LORAS = ["ink_style_xl.safetensors", "detail_tweaker_xl.safetensors"]
FIRST_MODULE = "test_first_session.py"
# The Redis database the scaled e2e run owns (it is emptied before and after the run).
E2E_REDIS_DB = os.environ.get("E2E_REDIS_DB", "13")


# ---- selection -------------------------------------------------------------------------------------
def _e2e_selected(config) -> bool:
    expression = (config.getoption("markexpr", "") or "").strip()
    return bool(re.search(r"\be2e\b", expression)) and not re.search(r"\bnot\s+e2e\b", expression)


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    mine = [item for item in items if here in Path(str(item.fspath)).parents]
    if not mine:
        return
    # The newcomer's first visit must find an empty studio, so that module runs before the others.
    first = [item for item in mine if Path(str(item.fspath)).name == FIRST_MODULE]
    if first:
        rest = [item for item in items if item not in first]
        position = min(items.index(item) for item in mine)
        items[:] = rest[:position] + first + rest[position:]
    if not _e2e_selected(config):
        skip = pytest.mark.skip(reason="browser tests run only with `pytest -m e2e tests/e2e`")
        for item in mine:
            item.add_marker(skip)
        return
    if not CHROMIUM.exists() and not _in_ci():
        skip = pytest.mark.skip(reason=f"{CHROMIUM} is not installed (apt-get install chromium); browser tests skipped")
        for item in mine:
            item.add_marker(skip)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    if report.failed and _HARNESS:
        for service in _HARNESS[0].services:
            report.sections.append((f"{service.name} (last lines of {service.log_path})", service.tail(60)))
    return report


# ---- processes -------------------------------------------------------------------------------------
class Service(LoggedProcess):
    """A subprocess whose output goes to <test output>/e2e-logs/<mode>/<name>.log."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]):
        super().__init__(name, argv, env, LOG_DIR / f"{name}.log")

    def stop(self, timeout: float = 10) -> None:
        super().stop(timeout)
        self.proc = None


def run(argv: list[str], env: dict[str, str], name: str, timeout: float = 120) -> str:
    """A one-off command (migrate); its output is appended to its log."""
    log_path = LOG_DIR / f"{name}.log"
    result = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    with open(log_path, "a") as log:
        log.write(f"$ {' '.join(argv)}\n{result.stdout}{result.stderr}\n")
    if result.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


# ---- the fake engines, steered over their HTTP control API -----------------------------------------
class OllamaControl(FakeOllamaControl):
    """The standalone fake Ollama: its request log, knobs, and a switch to take it down and back up."""

    def __init__(self, port: int, env: dict[str, str]):
        super().__init__(f"http://127.0.0.1:{port}")
        self.port = port
        argv = [
            sys.executable, "-m", "tests.fakes.ollama", "--port", str(port),
            "--token-delay", str(TOKEN_DELAY), "--models", ",".join(MODELS),
        ]
        self.service = Service("fake-ollama", argv, env)

    def start(self) -> None:
        self.service.start()
        wait_http(f"{self.url}/api/version", self.service, timeout=30)

    def stop(self) -> None:
        self.service.stop()

    def chats_by(self, persona: str, mentioning: str) -> list[dict]:
        """Chat requests made for one specialist (recognised by its system prompt) in the conversation
        whose history mentions ``mentioning`` (e.g. the session's idea): other sessions may still be talking."""
        found = []
        for record in self.chat_requests():
            messages = (record.get("json") or {}).get("messages") or []
            system = next((m.get("content", "") for m in messages if m.get("role") == "system"), "")
            if system.startswith(f"You are {persona},") and any(mentioning in str(m.get("content")) for m in messages):
                found.append(record)
        return found


@dataclass
class Harness:
    base_url: str
    port: int
    env: dict[str, str]
    data_dir: Path
    ollama: OllamaControl
    comfyui_url: str
    scaled: bool
    services: list[Service] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def manage(self, *args: str, env: dict[str, str] | None = None) -> str:
        return run([sys.executable, "manage.py", *args], {**self.env, **(env or {})}, "manage")

    def check_alive(self) -> None:
        for service in self.services:
            if service is not self.ollama.service:
                service.check()


_HARNESS: list[Harness] = []


def _base_env(data_dir: Path) -> dict[str, str]:
    env = clean_environment()
    env.update(
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(REPO),
        DJANGO_SETTINGS_MODULE="studio.settings",
        STUDIO_DATA_DIR=str(data_dir),
        STUDIO_HOST="127.0.0.1",
        LLM_EMBEDDED_ENABLED="0",
        LLM_BACKEND="auto",
        LLM_DEFAULT_MODEL="llama3.2",
        # The browser tests follow the team's replies to a whole idea; the question is tested on its own.
        STUDIO_CLARIFY="0",
        SECRET_KEY="e2e-" + uuid.uuid4().hex,
        LOG_LEVEL="INFO",
        # One session makes many calls in a minute here; a person never would.
        ACTION_RATE_LIMIT="200",
        # The fakes share a host, not a GPU: no handoff notices between the messages the tests count.
        COMFYUI_SHARES_GPU="none",
    )
    return env


def _redis_url_for_e2e(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, f"/{E2E_REDIS_DB}", parts.query, ""))


def _flush_redis(url: str) -> None:
    """Empty the e2e Redis database: the PostgreSQL database is new, so ids restart and stale
    live-text buffers, interrupt markers or queued tasks from an earlier run would meet them."""
    import redis

    redis.Redis.from_url(url, socket_connect_timeout=5).flushdb()


class PostgresDatabase:
    """A throwaway database next to the one in DATABASE_URL, so the run never meets pytest-django's."""

    def __init__(self, url: str):
        parts = urllib.parse.urlsplit(url)
        self.admin_dsn = url.replace("postgres://", "postgresql://", 1)
        self.name = f"e2e_{uuid.uuid4().hex[:10]}"
        self.url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, f"/{self.name}", parts.query, ""))

    def _execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_dsn, autocommit=True, connect_timeout=5) as connection:
            connection.execute(sql)

    def create(self) -> None:
        self._execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def _worker_queues(env: dict[str, str]) -> str:
    probe = (
        "import django; django.setup()\n"
        "try:\n"
        "    from generations.services.dispatch import worker_queues\n"
        "except ImportError:\n"
        "    print('studio,comfyui.0')\n"
        "else:\n"
        "    print(','.join(worker_queues()))\n"
    )
    return run([sys.executable, "-c", probe], env, "manage").strip().splitlines()[-1]


@pytest.fixture(scope="session")
def studio(tmp_path_factory) -> Harness:
    """The running studio (daphne + fakes [+ PostgreSQL database + Celery worker])."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    SHOT_DIR.mkdir(parents=True, exist_ok=True)
    for old in [*LOG_DIR.glob("*.log"), *SHOT_DIR.glob("*.png")]:
        old.unlink()
    data_dir = tmp_path_factory.mktemp("e2e-data")
    env = _base_env(data_dir)
    scaled = SCALED
    services: list[Service] = []
    database: PostgresDatabase | None = None
    harness: Harness | None = None
    try:
        ollama = OllamaControl(free_port(), env)
        ollama.start()
        services.append(ollama.service)

        comfy_port = free_port()
        comfy_url = f"http://127.0.0.1:{comfy_port}"
        comfy = Service(
            "fake-comfyui",
            [
                sys.executable, "-m", "tests.fakes.comfyui", "--port", str(comfy_port),
                "--step-delay", str(STEP_DELAY), "--checkpoints", ",".join(CHECKPOINTS),
                "--models", "loras=" + ",".join(LORAS),
            ],
            env,
        ).start()
        services.append(comfy)
        wait_http(f"{comfy_url}/system_stats", comfy, timeout=30)

        port = free_port()
        env.update(OLLAMA_URL=ollama.url, COMFYUI_URLS=comfy_url, STUDIO_PORT=str(port))
        if scaled:
            database = PostgresDatabase(os.environ["DATABASE_URL"])
            database.create()
            redis_url = _redis_url_for_e2e(os.environ["REDIS_URL"])
            _flush_redis(redis_url)
            env.update(DATABASE_URL=database.url, REDIS_URL=redis_url)

        run([sys.executable, "manage.py", "migrate", "--noinput"], env, "manage", timeout=180)
        if scaled:
            queues = _worker_queues(env)
            worker = Service(
                "celery-worker",
                [sys.executable, "-m", "celery", "-A", "studio", "worker", "-Q", queues, "--concurrency", "2",
                 "-l", "info", "--without-gossip", "--without-mingle", "--without-heartbeat"],
                env,
            ).start()
            services.append(worker)
        daphne_argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "studio.asgi:application"]
        daphne = Service("daphne", daphne_argv, env).start()
        services.append(daphne)
        base_url = f"http://127.0.0.1:{port}"
        wait_http(f"{base_url}/accounts/login/", daphne, timeout=60)
        if scaled:
            wait_log(worker, r"celery@\S+ ready", timeout=60)
        harness = Harness(base_url, port, env, data_dir, ollama, comfy_url, scaled, services)
        _HARNESS.append(harness)
        yield harness
    finally:
        _HARNESS.clear()
        for service in reversed(services):
            service.stop()
        if harness is not None:
            # The orchestrator may have restarted the fake Ollama in a test: stop that one too.
            harness.ollama.stop()
        if database is not None:
            database.drop()
            _flush_redis(env["REDIS_URL"])
        shutil.rmtree(data_dir, ignore_errors=True)


# ---- the browser -----------------------------------------------------------------------------------
# Records what changes too fast to poll for: every text a chat bubble's body shows (growing token by
# token), every progress line a generation card shows, every live preview frame it gets, and how often
# the studio's websocket closed.
_RECORDER_SCRIPT = """
window.__growth = {};
window.__progress = {};
window.__previews = {};
window.__socketCloses = 0;
document.addEventListener('htmx:wsClose', () => { window.__socketCloses += 1; });
const record = (store, key, value) => {
  const series = (store[key] ||= []);
  if (series[series.length - 1] !== value) series.push(value);
};
new MutationObserver(() => {
  document.querySelectorAll('#messages [id^="message-"][id$="-body"]').forEach(el => {
    record(window.__growth, el.id, el.textContent);
  });
  document.querySelectorAll('#messages .generation-card').forEach(card => {
    const line = card.querySelector('.progress-text');
    if (line) record(window.__progress, card.id, line.textContent.replace(/\\s+/g, ' ').trim());
    const preview = card.querySelector('img.preview');
    if (preview && !preview.hidden && preview.src.startsWith('data:image/')) {
      record(window.__previews, card.id, preview.src.length + ':' + preview.src.slice(-24));
    }
  });
}).observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
"""


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium package for the browser tests"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def shot(request):
    """shot(page, step) saves <test output>/screenshots/<mode>/<test>-<step>.png."""

    def _shot(page, step: str, *, full_page: bool = False) -> Path:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{request.node.name}-{step}")
        path = SHOT_DIR / f"{name}.png"
        # caret="initial": hiding the caret leaves style="" on every input, which htmx then copies onto the
        # element that replaces it, and the Content-Security-Policy (rightly) refuses that.
        page.screenshot(path=str(path), full_page=full_page, caret="initial")
        return path

    return _shot


@pytest.fixture
def context(browser, studio, request):
    context = browser.new_context(base_url=studio.base_url, viewport={"width": 1280, "height": 900})
    context.add_init_script(_RECORDER_SCRIPT)
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(context, studio, request, shot):
    """A fresh tab signed in as the local user; on failure its screen is saved, and JS errors and anything the
    Content-Security-Policy refused are reported."""
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    errors: list[str] = []
    refused: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        try:
            shot(page, "FAILED", full_page=True)
        except Exception as exc:  # noqa: BLE001 - the page may be gone; the report matters more
            print(f"could not save a failure screenshot: {exc}")
    assert not errors, f"uncaught JavaScript errors on the page: {errors}"
    assert not refused, f"the Content-Security-Policy refused part of the page: {refused}"


def fresh_engines(studio: Harness) -> None:
    """The fake Ollama up and at its defaults (a test may have stopped or slowed it), the studio alive."""
    if not studio.ollama.service.alive:
        studio.ollama.start()
    studio.ollama.reset()
    studio.ollama.configure(token_delay=TOKEN_DELAY, models=MODELS)
    studio.check_alive()


@pytest.fixture(autouse=True)
def _fresh_engines(studio):
    fresh_engines(studio)
