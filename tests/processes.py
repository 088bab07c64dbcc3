"""Subprocesses on loopback for the browser tests, the fault tests and the benchmarks: free ports,
processes in their own group logging to a file, and waiting until they answer."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


# Variables a started studio, worker or fake must get from its harness, never from the developer's shell.
SCRUBBED_ENV = frozenset({
    "DATABASE_URL", "REDIS_URL", "OLLAMA_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY", "COMFYUI_URLS", "STUDIO_HOST",
    "STUDIO_PORT", "STUDIO_REQUIRE_LOGIN", "STUDIO_DATA_DIR", "MEDIA_ROOT", "LLM_BACKEND", "LLM_EMBEDDED_ENABLED",
    "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "STUDIO_CONCURRENT_ROUNDS", "STUDIO_CLARIFY", "GENERATION_JOBS_IN_PROCESS",
    "COMFYUI_SHARES_GPU",
})


def clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LoggedProcess:
    """A subprocess in its own process group (so its children, e.g. Celery's pool, stop with it)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path):
        self.name, self.argv, self.env, self.log_path = name, argv, env, log_path
        self.proc: subprocess.Popen | None = None

    def start(self):
        with open(self.log_path, "ab") as log:
            log.write(f"\n==== {time.strftime('%H:%M:%S')} $ {' '.join(self.argv)}\n".encode())
            self.proc = subprocess.Popen(
                self.argv, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def rss_mb(self) -> float:
        """Resident memory of the process itself, not its children."""
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self) -> float:
        """User + system CPU time the process itself has used so far."""
        return _cpu_seconds(Path(f"/proc/{self.pid}/stat"))

    def thread_cpu_seconds(self) -> tuple[float, float]:
        """CPU time so far of the main thread (daphne's event loop) and of all other live threads together."""
        main = others = 0.0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                seconds = _cpu_seconds(task / "stat")
            except OSError:
                continue  # the thread ended meanwhile
            if int(task.name) == self.pid:
                main = seconds
            else:
                others += seconds
        return main, others

    def kill9(self) -> None:
        """The whole process group, at once: a crash, not a shutdown."""
        if self.alive:
            os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 10) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass


def _cpu_seconds(stat: Path) -> float:
    """User + system time from a /proc stat file (of a process or of one of its threads)."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http(method: str, url: str, body=None, timeout: float = 10, headers: dict | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback only
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_http(url: str, process: LoggedProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        process.check()
        try:
            status, _ = http("GET", url, timeout=2)
            if status < 500:
                return
            last = f"HTTP {status}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not answer {url} within {timeout}s ({last}):\n{process.tail()}")


def wait_listening(port: int, process: LoggedProcess, timeout: float = 60) -> None:
    """For a server with nothing to ask over HTTP (a websocket-only app): wait until it accepts connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.check()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not listen on {port} within {timeout}s:\n{process.tail()}")


def wait_log(process: LoggedProcess, pattern: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.check()
        if re.search(pattern, process.tail(200)):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} never logged {pattern!r} within {timeout}s:\n{process.tail()}")
