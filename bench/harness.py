"""Shared machinery for the benchmarks in bench/: real processes on loopback, measured from outside.

A `Stack` is one studio configuration: a fresh data dir (SQLite) or a throwaway PostgreSQL database,
optionally a Redis database of its own, the fake engines as subprocesses (their CLIs), daphne
processes and Celery workers. Everything it starts runs in its own process group and is stopped
when the stack closes, when the script exits, or on Ctrl-C/SIGTERM.

Clocks: the fake Ollama stamps each token with time.time() right after writing it; clients here
stamp each frame with time.time() on receipt. Same host, same clock, so the difference is the
engine -> client delay.

Helper entry point (run by the stack in its own environment, so Django is configured per stack):
    python -m bench.harness prepare --sessions N [--settings JSON]  -> JSON on stdout
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import bisect
import functools
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests import frames as wire  # noqa: E402
from tests.fakes.ollama_control import FakeOllamaControl  # noqa: E402
from tests.processes import LoggedProcess, clean_environment, free_port, http, wait_http, wait_listening  # noqa: E402

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
PYTHON = sys.executable
BENCH_REDIS_DB = os.environ.get("BENCH_REDIS_DB", "14")
PERSONA_ROLES = {"Luna": "style", "Frame": "composition", "Saga": "story", "Pixel": "technical", "Lens": "critic"}
SPECIALIST_ROLES = set(PERSONA_ROLES.values())


# ---- processes -------------------------------------------------------------------------------------
class Proc(LoggedProcess):
    """A logged subprocess that the bench's signal handlers stop on the way out."""

    running: list[Proc] = []

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path):
        super().__init__(name, argv, env, log_dir / f"{name}.log")

    def start(self) -> Proc:
        super().start()
        Proc.running.append(self)
        return self

    def stop(self, timeout: float = 10) -> None:
        super().stop(timeout)
        if self in Proc.running:
            Proc.running.remove(self)


class Profile:
    """py-spy sampling a running process (`pip install py-spy`); writes collapsed stacks and prints the hot spots.

    Sampling runs in a separate process with --nonblocking, so the measured process is not paused.
    """

    def __init__(self, target: Proc, path: Path, *, rate: int = 200, idle: bool = False):
        self.target, self.path, self.rate, self.idle = target, path, rate, idle
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Profile:
        spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
        if not Path(spy).exists():
            print("(py-spy is not installed: no profile)")
            return self
        self.proc = subprocess.Popen(
            [spy, "record", "--pid", str(self.target.pid), "--rate", str(self.rate), "--format", "raw",
             "--nonblocking", "--output", str(self.path)] + (["--idle", "--threads"] if self.idle else []),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        time.sleep(0.5)
        return self

    def __exit__(self, *exc_info) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    _GENERIC = re.compile(
        r"\((threading|runpy|<frozen runpy>|asyncio/(base_events|events|runners|selector_events)|"
        r"concurrent/futures/\w+|asgiref/sync|daphne/(cli|server|__main__)|twisted/internet/asyncioreactor)\.py"
    )

    def _samples(self):
        try:
            lines = self.path.read_text(errors="replace").splitlines()
        except OSError:
            return
        for line in lines:
            stack, _, count = line.rpartition(" ")
            if count.isdigit() and stack.strip():
                yield [f for f in stack.split(";") if f], int(count)

    @staticmethod
    def _name(frame: str) -> str:
        function, _, where = frame.partition(" (")
        return f"{function} ({where.split(':')[0]})"

    def hot_spots(self, top: int = 25, *, own: bool = False) -> list[tuple[float, str]]:
        """Share of samples per function: inclusive (anywhere on the stack) or own (the leaf frame).

        Plumbing every sample passes through (threads, the event loop, daphne's entry point) is left out.
        """
        counts: dict[str, int] = {}
        total = 0
        for frames, count in self._samples():
            total += count
            names = [self._name(f) for f in frames]
            chosen = names[-1:] if own else {n for n in names if not self._GENERIC.search(n)}
            for name in chosen:
                counts[name] = counts.get(name, 0) + count
        return sorted(((n / total, f) for f, n in counts.items()), reverse=True)[:top] if total else []

    def threads(self) -> dict[str, float]:
        """Where the process spent its CPU: the event loop or the sync_to_async (database) thread."""
        shares = {"event loop": 0, "sync_to_async thread": 0, "other": 0}
        total = 0
        for frames, count in self._samples():
            total += count
            text = ";".join(frames)
            key = "sync_to_async thread" if "thread_handler" in text else (
                "event loop" if "run_forever" in text else "other")
            shares[key] += count
        return {k: v / total for k, v in shares.items()} if total else {}

    def report(self, title: str) -> None:
        print(f"profile: {title} -> {self.path}")
        print("  " + ", ".join(f"{k} {v * 100:.0f}%" for k, v in self.threads().items()))
        for share, frame in self.hot_spots(22):
            print(f"  {share * 100:5.1f}%  {frame}")
        print("  own time (leaf frames):")
        for share, frame in self.hot_spots(10, own=True):
            print(f"  {share * 100:5.1f}%  {frame}")


def stop_all_processes() -> None:
    for proc in reversed(list(Proc.running)):
        try:
            proc.stop(timeout=5)
        except Exception as exc:  # noqa: BLE001 - keep stopping the others
            print(f"could not stop {proc.name}: {exc}", file=sys.stderr)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


atexit.register(stop_all_processes)


def install_signal_handlers() -> None:
    """Ctrl-C or SIGTERM unwinds through every `finally`, so each stack cleans up after itself."""
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)


# ---- the fake engines (their CLIs, steered over HTTP) ----------------------------------------------
class FakeOllamaProcess(FakeOllamaControl):
    def __init__(self, proc: Proc, url: str):
        super().__init__(url)
        self.proc = proc

    chat_records = FakeOllamaControl.chat_requests


@dataclass
class Web:
    proc: Proc
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


@dataclass
class SessionInfo:
    session_id: int
    cookie: str
    tag: str


class Stack:
    """One studio configuration. Use as a context manager; closing it stops and removes everything."""

    def __init__(self, label: str, *, database_url: str | None = None, redis_url: str | None = None, **env):
        self.label = label
        self.data_dir = Path(tempfile.mkdtemp(prefix="studio-bench-"))
        self.log_dir = self.data_dir / "logs"
        self.log_dir.mkdir()
        self.procs: list[Proc] = []
        self.database_name: str | None = None
        self._admin_dsn: str | None = None
        self.env = clean_environment()
        self.env.update(
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(REPO),
            DJANGO_SETTINGS_MODULE="studio.settings",
            STUDIO_DATA_DIR=str(self.data_dir),
            STUDIO_HOST="127.0.0.1",
            SECRET_KEY="bench-" + uuid.uuid4().hex,
            LLM_BACKEND="auto",
            LLM_EMBEDDED_ENABLED="0",
            LLM_DEFAULT_MODEL="llama3.2",
            LOG_LEVEL="WARNING",
            ACTION_RATE_LIMIT="1000000",
            COMFYUI_SHARES_GPU="none",
        )
        self.env.update({k: str(v) for k, v in env.items()})
        if database_url:
            parts = urllib.parse.urlsplit(database_url)
            self._admin_dsn = database_url.replace("postgres://", "postgresql://", 1)
            self.database_name = f"bench_{uuid.uuid4().hex[:10]}"
            self._pg(f'CREATE DATABASE "{self.database_name}"')
            self.env["DATABASE_URL"] = urllib.parse.urlunsplit(
                (parts.scheme, parts.netloc, f"/{self.database_name}", parts.query, "")
            )
        if redis_url:
            parts = urllib.parse.urlsplit(redis_url)
            self.env["REDIS_URL"] = urllib.parse.urlunsplit(
                (parts.scheme, parts.netloc, f"/{BENCH_REDIS_DB}", parts.query, "")
            )
            self._flush_redis()

    # -- lifecycle --------------------------------------------------------------------------------
    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()
        keep = os.environ.get("BENCH_KEEP_LOGS")
        if keep:
            target = Path(keep) / f"{self.label.replace(' ', '_')}-{self.data_dir.name}"
            shutil.copytree(self.log_dir, target, dirs_exist_ok=True)
            print(f"(logs of {self.label} kept in {target})")
        if self.database_name:
            try:
                self._pg(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')
            except Exception as exc:  # noqa: BLE001
                print(f"could not drop {self.database_name}: {exc}", file=sys.stderr)
            self.database_name = None
        if "REDIS_URL" in self.env:
            self._flush_redis()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def _pg(self, sql: str):
        import psycopg

        with psycopg.connect(self._admin_dsn, autocommit=True, connect_timeout=5) as connection:
            cursor = connection.execute(sql)
            return cursor.fetchall() if cursor.description else None

    def _flush_redis(self) -> None:
        import redis

        client = redis.Redis.from_url(self.env["REDIS_URL"])
        client.flushdb()
        client.close()

    @property
    def scaled(self) -> bool:
        return "REDIS_URL" in self.env

    def spawn(self, name: str, argv: list[str], env: dict | None = None) -> Proc:
        proc = Proc(name, argv, {**self.env, **(env or {})}, self.log_dir).start()
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def run(self, argv: list[str], timeout: float = 180, env: dict | None = None) -> str:
        result = subprocess.run(
            argv, cwd=REPO, env={**self.env, **(env or {})}, capture_output=True, text=True, timeout=timeout
        )
        if result.returncode:
            raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result.stdout

    # -- pieces -----------------------------------------------------------------------------------
    def start_ollama(self, *, token_delay: float = 0.02, models=("llama3.2", "qwen2.5:7b")) -> FakeOllamaProcess:
        port = free_port()
        proc = self.spawn(
            f"fake-ollama-{port}",
            [PYTHON, "-m", "tests.fakes.ollama", "--port", str(port), "--token-delay", str(token_delay),
             "--models", ",".join(models)],
        )
        fake = FakeOllamaProcess(proc, f"http://127.0.0.1:{port}")
        wait_http(f"{fake.url}/api/version", proc, timeout=30)
        self.env["OLLAMA_URL"] = fake.url
        return fake

    def start_comfyui(self, *, step_delay: float = 0.05, steps: int | None = None, previews: bool = False) -> str:
        port = free_port()
        argv = [PYTHON, "-m", "tests.fakes.comfyui", "--port", str(port), "--step-delay", str(step_delay)]
        if steps:
            argv += ["--steps", str(steps)]
        if not previews:
            argv.append("--no-previews")
        proc = self.spawn(f"fake-comfyui-{port}", argv)
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/system_stats", proc, timeout=30)
        return url

    def migrate(self) -> None:
        self.run([PYTHON, "manage.py", "migrate", "--noinput"])

    def prepare(self, sessions: int, *, settings: dict | None = None, review: bool = False) -> list[SessionInfo]:
        """Sessions owned by one user, and a signed-in cookie for it. Each has an empty conversation, or
        with ``review`` one in the review phase holding a brief (ready for "generate")."""
        argv = [PYTHON, "-m", "bench.harness", "prepare", "--sessions", str(sessions),
                "--settings", json.dumps(settings or {})]
        out = self.run(argv + (["--review"] if review else []))
        rows = json.loads(out.strip().splitlines()[-1])
        return [SessionInfo(r["session_id"], r["cookie"], r["tag"]) for r in rows]

    def _start_daphnes(self, application: str, count: int, name: str) -> list[Web]:
        webs = []
        for _ in range(count):
            port = free_port()
            argv = [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), application]
            if os.environ.get("BENCH_SWITCH_INTERVAL"):  # experiment: the GIL hand-over interval of daphne
                boot = (f"import sys; sys.setswitchinterval({float(os.environ['BENCH_SWITCH_INTERVAL'])}); "
                        "sys.argv[0] = 'daphne'; from daphne.cli import CommandLineInterface; "
                        "CommandLineInterface.entrypoint()")
                argv = [PYTHON, "-c", boot, *argv[3:]]
            webs.append(Web(self.spawn(f"{name}-{port}", argv), port))
        return webs

    def start_web(self, count: int = 1) -> list[Web]:
        webs = self._start_daphnes("studio.asgi:application", count, "daphne")
        for web in webs:
            wait_http(f"{web.url}/healthz", web.proc, timeout=60)
        return webs

    def start_floor(self, count: int = 1) -> list[Web]:
        """Daphne serving bench/channels_floor.py with this stack's settings (its channel layer)."""
        webs = self._start_daphnes("bench.channels_floor:application", count, "floor-daphne")
        for web in webs:
            wait_listening(web.port, web.proc, timeout=60)
        return webs

    def start_worker(self, *, queues: str, concurrency: int, name: str = "celery-worker") -> Proc:
        proc = self.spawn(
            name,
            [PYTHON, "-m", "celery", "-A", "studio", "worker", "-Q", queues, "--concurrency", str(concurrency),
             "-l", "warning", "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{name}@%h"],
        )
        return proc

    def django_probe(self, code: str) -> str:
        """Run Python with Django configured for this stack; returns its last stdout line."""
        script = "import django; django.setup()\n" + code
        return self.run([PYTHON, "-c", script]).strip().splitlines()[-1]


# ---- the machine -----------------------------------------------------------------------------------
def _meminfo_gb() -> float:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine_info(database_url: str | None = None, redis_url: str | None = None) -> dict:
    import sqlite3

    info = {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "ram_gb": round(_meminfo_gb(), 1),
        "os": f"{_os_name()} (kernel {platform.release()})",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }
    if database_url:
        try:
            import psycopg

            dsn = database_url.replace("postgres://", "postgresql://", 1)
            with psycopg.connect(dsn, connect_timeout=3) as connection:
                info["postgresql"] = connection.execute("SHOW server_version").fetchone()[0]
        except Exception as exc:  # noqa: BLE001
            info["postgresql"] = f"unreachable ({exc.__class__.__name__})"
    if redis_url:
        try:
            import redis

            client = redis.Redis.from_url(redis_url, socket_timeout=3)
            info["redis"] = client.info("server")["redis_version"]
            client.close()
        except Exception as exc:  # noqa: BLE001
            info["redis"] = f"unreachable ({exc.__class__.__name__})"
    return info


def load_average() -> str:
    """Other work on the machine skews every figure: printed before and after each run."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min)"


def wait_quiet(limit_seconds: float, *, below: float = 0.6) -> None:
    """Wait (up to ``limit_seconds``) for the 1-minute load average to drop: other work skews every figure."""
    deadline = time.monotonic() + limit_seconds
    while os.getloadavg()[0] > below and time.monotonic() < deadline:
        time.sleep(5)


def print_machine(info: dict, configs: list[str]) -> None:
    print(f"machine: {info['cores']} cores ({info['cpu']}), {info['ram_gb']} GB RAM, {info['os']}")
    line = f"python {info['python']}, sqlite {info['sqlite']}"
    if "postgresql" in info:
        line += f", postgresql {info['postgresql']}"
    if "redis" in info:
        line += f", redis {info['redis']}"
    print(line)
    print("configurations: " + "; ".join(configs))
    print(f"before the run: {load_average()}")
    print()


def scaled_urls(args) -> tuple[str | None, str | None]:
    """DATABASE_URL and REDIS_URL for the scaled runs (flags win over the environment)."""
    database = getattr(args, "database_url", None) or os.environ.get("DATABASE_URL")
    redis_url = getattr(args, "redis_url", None) or os.environ.get("REDIS_URL")
    if getattr(args, "no_scaled", False):
        return None, None
    return (database, redis_url) if database and redis_url else (None, None)


def add_scaled_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="PostgreSQL for the scaled runs (default: $DATABASE_URL)")
    parser.add_argument("--redis-url", help="Redis for the scaled runs (default: $REDIS_URL)")
    parser.add_argument("--no-scaled", action="store_true", help="only the default configuration")


# ---- figures ---------------------------------------------------------------------------------------
def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: p99 of 100 values is the 99th)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-pct * len(ordered) // 100))))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values) if values else float("nan"),
        "mean": statistics.fmean(values) if values else float("nan"),
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "n/a"


def table(headers: list[str], rows: list[list]) -> str:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


# ---- a websocket client that reads the chat like a browser would -----------------------------------
FINAL = ("complete", "failed", "interrupted")


@dataclass
class Trace:
    role: str = ""
    status: str = ""
    text: str = ""
    # (receipt time, body length) each time the body grew.
    growth: list[tuple[float, int]] = field(default_factory=list)


class ChatClient:
    """One browser tab on a session: tracks every bubble's text and when each character arrived."""

    def __init__(self, web: Web, session: SessionInfo):
        self.web, self.session = web, session
        self.messages: dict[int, Trace] = {}
        self.frames = 0
        self.alerts: list[str] = []
        # generation id -> {status: first time a card in that status arrived}; "shown" once it carries the media
        self.cards: dict[int, dict[str, float]] = {}
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._changed = asyncio.Event()

    async def open(self) -> ChatClient:
        from websockets.asyncio.client import connect

        self._ws = await connect(
            f"{self.web.ws_url}/ws/sessions/{self.session.session_id}/",
            origin=self.web.url,
            additional_headers={"Cookie": self.session.cookie},
            max_size=None,
            open_timeout=30,
            ping_interval=None,
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def close(self) -> None:
        if self._reader:
            self._reader.cancel()
        if self._ws is not None:
            await self._ws.close()

    async def send(self, data: dict) -> None:
        await self._ws.send(json.dumps(data))

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for frame in self._ws:
                self.apply(frame, time.time())
        except ConnectionClosed:
            pass

    def apply(self, frame: str, now: float) -> None:
        self.frames += 1
        if os.environ.get("BENCH_FRAMES"):
            self.frames_log = getattr(self, "frames_log", []) + [frame]
        if frame.lstrip().startswith("<p id=\"composer-error\""):
            self.alerts.append(frame)
        for match in wire.CARD.finditer(frame):
            seen = self.cards.setdefault(int(match.group(1)), {})
            seen.setdefault(match.group(2), now)
            if match.group(2) == "complete" and 'class="outputs"' in frame:
                seen.setdefault("shown", now)
        for message_id, role, _kind, status in wire.articles(frame):
            trace = self.messages.setdefault(message_id, Trace())
            trace.role, trace.status = role, status
        for message_id, text in wire.bodies(frame):
            self._grow(message_id, text, now, replace=True)
        for message_id, text in wire.tokens(frame):
            self._grow(message_id, text, now, replace=False)
        self._changed.set()

    def _grow(self, message_id: int, text: str, now: float, *, replace: bool) -> None:
        trace = self.messages.setdefault(message_id, Trace())
        trace.text = text if replace else trace.text + text
        if not trace.growth or len(trace.text) > trace.growth[-1][1]:
            trace.growth.append((now, len(trace.text)))

    def specialist_replies(self) -> list[Trace]:
        return [t for _, t in sorted(self.messages.items()) if t.role in SPECIALIST_ROLES]

    async def wait_for(self, predicate, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass
        return True

    def settled(self, replies: int) -> bool:
        done = [t for t in self.specialist_replies() if t.status in FINAL]
        return len(done) >= replies and not any(t.status == "streaming" for t in self.specialist_replies())


def _arrival(trace: Trace, end: int) -> float | None:
    lengths = [length for _, length in trace.growth]
    index = bisect.bisect_left(lengths, end)
    return trace.growth[index][0] if index < len(trace.growth) else None


def token_delays(records: list[dict], clients: list[ChatClient]) -> tuple[list[float], dict]:
    """Engine send time -> first moment the client shows that token, for every token the fake sent."""
    from tests.fakes.ollama import default_responder, tokenize

    by_tag = {c.session.tag: c for c in clients}
    delays: list[float] = []
    unmatched = 0
    for record in records:
        body = record.get("json") or {}
        messages = body.get("messages") or []
        blob = json.dumps(messages)
        client = next((c for tag, c in by_tag.items() if tag in blob), None)
        system = next((m.get("content", "") for m in messages if m.get("role") == "system"), "")
        persona = re.match(r"You are (\w+)", system)
        role = PERSONA_ROLES.get(persona.group(1)) if persona else None
        if client is None or role is None:
            unmatched += 1
            continue
        text = default_responder(body)
        trace = next((t for t in client.specialist_replies() if t.role == role and t.text == text), None)
        if trace is None:
            unmatched += 1
            continue
        end = 0
        for token, sent in zip(tokenize(text), record["token_times"], strict=False):
            end += len(token)
            arrived = _arrival(trace, end)
            if arrived is not None:
                delays.append(arrived - sent)
    return delays, {"unmatched_replies": unmatched}


async def open_in_batches(openers: list, size: int = 25) -> list:
    """Await each opener's coroutine, `size` at a time: a connection storm measures the accept queue,
    not streaming."""
    opened = []
    for start in range(0, len(openers), size):
        opened += await asyncio.gather(*(opener() for opener in openers[start : start + size]))
    return opened


async def open_clients(pairs: list[tuple[Web, SessionInfo]]) -> list[ChatClient]:
    clients = [ChatClient(web, session) for web, session in pairs]
    await open_in_batches([client.open for client in clients])
    await asyncio.gather(*(c.wait_for(lambda c: c.frames >= 1, 30) for c in clients))
    return clients


@dataclass
class TurnResult:
    delays: list[float]
    seconds: float
    tokens: int
    replies: int
    settled: int
    sessions: int
    unmatched: int
    alerts: int


async def run_turn(clients: list[ChatClient], fake: FakeOllamaProcess, *, replies: int = 3, timeout: float = 120):
    """Every client sends its idea at once; wait until each session's round settled; measure."""
    await asyncio.to_thread(fake.reset)
    started = time.monotonic()
    await asyncio.gather(
        *(c.send({"action": "message", "text": f"{c.session.tag}: a lighthouse keeper's cat at dusk"}) for c in clients)
    )
    settled = await asyncio.gather(*(c.wait_for(lambda c: c.settled(replies), timeout) for c in clients))
    seconds = time.monotonic() - started
    records = await asyncio.to_thread(fake.chat_records)
    delays, extra = token_delays(records, clients)
    tokens = sum(len(r["token_times"]) for r in records)
    done = sum(1 for c in clients for t in c.specialist_replies() if t.status == "complete")
    return TurnResult(
        delays, seconds, tokens, done, sum(settled), len(clients), extra["unmatched_replies"],
        sum(len(c.alerts) for c in clients),
    )


async def baseline_delays(ollama_url: str, streams: int, *, model: str = "llama3.2") -> list[float]:
    """The same delay measured by reading /api/chat directly with httpx: the floor for this machine."""
    import httpx

    tags = [f"baseline-{uuid.uuid4().hex[:8]}" for _ in range(streams)]
    arrivals: dict[str, list[float]] = {}

    async def read(client: httpx.AsyncClient, tag: str) -> None:
        body = {
            "model": model,
            "stream": True,
            "messages": [
                {"role": "system", "content": "You are Luna, the style specialist."},
                {"role": "user", "content": f"{tag}: a lighthouse keeper's cat at dusk"},
            ],
        }
        times = arrivals.setdefault(tag, [])
        async with client.stream("POST", "/api/chat", json=body) as response:
            async for line in response.aiter_lines():
                if line.strip() and not json.loads(line).get("done"):
                    times.append(time.time())

    limits = httpx.Limits(max_connections=streams + 4, max_keepalive_connections=streams + 4)
    async with httpx.AsyncClient(base_url=ollama_url, timeout=120, limits=limits) as client:
        await asyncio.to_thread(http, "POST", f"{ollama_url}/_fake/reset")
        await asyncio.gather(*(read(client, tag) for tag in tags))
    status, raw = await asyncio.to_thread(http, "GET", f"{ollama_url}/_fake/requests", None, 60)
    delays = []
    for record in json.loads(raw):
        if record["path"] != "/api/chat":
            continue
        blob = json.dumps(record.get("json"))
        tag = next((t for t in tags if t in blob), None)
        if tag is None:
            continue
        delays += [got - sent for got, sent in zip(arrivals[tag], record["token_times"], strict=False)]
    return delays


async def floor_delays(webs: list[Web], streams: int, *, tokens: int, token_delay: float) -> tuple[list[float], float]:
    """Per-token delay through bench/channels_floor.py (stamped at the group send) for `streams` sockets
    spread over `webs`, and the daphne processes' CPU seconds per frame."""
    from websockets.asyncio.client import connect

    urls = [f"{webs[i % len(webs)].ws_url}/" for i in range(streams)]
    sockets = await open_in_batches(
        [functools.partial(connect, url, max_size=None, open_timeout=30, ping_interval=None) for url in urls]
    )
    delays: list[float] = []

    async def read(socket) -> None:
        for _ in range(tokens):
            sent = float(await socket.recv())
            delays.append(time.time() - sent)

    cpu_before = sum(web.proc.cpu_seconds() for web in webs)
    order = json.dumps({"tokens": tokens, "delay": token_delay})
    await asyncio.gather(*(socket.send(order) for socket in sockets))
    await asyncio.wait_for(asyncio.gather(*(read(socket) for socket in sockets)), tokens * token_delay * 20 + 60)
    cpu = sum(web.proc.cpu_seconds() for web in webs) - cpu_before
    await asyncio.gather(*(socket.close() for socket in sockets))
    return delays, cpu / max(1, len(delays))


# ---- `python -m bench.harness prepare`: runs inside a stack's environment ---------------------------
BENCH_BRIEF = {
    "positive_prompt": "a lighthouse keeper's cat on the gallery rail, dusk, amber light, film grain",
    "negative_prompt": "blurry, text",
    "checkpoint": "v1-5-pruned-emaonly.safetensors",  # SD1.5: 512×512 is its own size, drawn as asked
    "width": 512,
    "height": 512,
    "steps": 8,
    "cfg": 6.0,
    "sampler": "euler",
    "scheduler": "normal",
    "seed": 4711,
}


def _prepare(sessions: int, settings: dict, *, review: bool = False) -> None:
    import django

    django.setup()
    from django.conf import settings as django_settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    from specialists.models import Conversation
    from studio.core.models import Session

    user, _ = get_user_model().objects.get_or_create(username=f"bench-{uuid.uuid4().hex[:6]}")
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    cookie = f"{django_settings.SESSION_COOKIE_NAME}={store.session_key}"
    if review:
        from generations.services.brief import normalize_brief
        from generations.services.catalog import get_catalog

        catalog = get_catalog()
    rows = []
    for n in range(sessions):
        tag = f"bench{uuid.uuid4().hex[:6]}s{n:04d}"
        session = Session.objects.create(owner=user, title=tag, settings=settings)
        conversation = Conversation.objects.create(session=session, phase="review" if review else "ideation")
        if review:
            # A seed per session: ComfyUI serves an identical prompt from its cache without running it.
            brief, _ = normalize_brief({**BENCH_BRIEF, "seed": uuid.uuid4().int % 2**31}, catalog)
            conversation.append_message("user", f"{tag}: a lighthouse keeper's cat at dusk")
            conversation.append_message("technical", "Here is the brief.", kind="brief", brief=brief)
        rows.append({"session_id": session.pk, "cookie": cookie, "tag": tag})
    print(json.dumps(rows))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.harness")
    sub = parser.add_subparsers(dest="command", required=True)
    prepare = sub.add_parser("prepare")
    prepare.add_argument("--sessions", type=int, default=1)
    prepare.add_argument("--settings", default="{}")
    prepare.add_argument("--review", action="store_true", help="conversations in review, with a brief")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        _prepare(args.sessions, json.loads(args.settings), review=args.review)


if __name__ == "__main__":
    main()
