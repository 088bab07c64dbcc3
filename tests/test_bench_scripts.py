"""The bench/ scripts are not run by CI (they take minutes and measure the machine), but they must
at least start: a refactor once moved a helper they import and left one unable to load."""

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
# Not scripts: the shared harness, and the ASGI application the streaming bench serves as its floor.
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py") if p.name not in ("__init__.py", "harness.py", "channels_floor.py"))


def test_there_are_bench_scripts():
    assert {"streaming_latency.py", "throughput.py", "generation_overhead.py", "round_time.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_it_loads_and_explains_itself(script):
    result = subprocess.run(
        [sys.executable, str(BENCH / script), "--help"], capture_output=True, text=True, timeout=60, cwd=BENCH.parent
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_the_channels_floor_forwards_every_token_it_is_asked_for():
    from bench.harness import Stack, floor_delays

    with Stack("floor test") as stack:
        webs = stack.start_floor(1)
        delays, _ = asyncio.run(floor_delays(webs, 3, tokens=5, token_delay=0.005))
    assert len(delays) == 15
    assert all(0 <= delay < 5 for delay in delays)
