"""The web process's warm-up: what its first enqueue needs is ready, and nothing was connected to."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Run in a process of its own: in this one, earlier tests have long imported everything.
PROBE = """
import json, socket, sys
import django
django.setup()
attempts = []
def refuse(sock, address, *rest):
    attempts.append(str(address))
    raise OSError("the warm-up must not connect to anything")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
before = "kombu.transport.redis" in sys.modules
from generations.services import warm
warm.warm_up_web()
print(json.dumps({"before": before, "after": "kombu.transport.redis" in sys.modules, "attempts": attempts}))
"""


def _warm_up(tmp_path, **env) -> dict:
    environment = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "DJANGO_SETTINGS_MODULE": "studio.settings",
        "STUDIO_DATA_DIR": str(tmp_path),
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_web_process_readies_the_brokers_transport_without_connecting_to_anything(tmp_path):
    # Nothing listens on port 9: a connection attempt would also show as an error.
    found = _warm_up(
        tmp_path, REDIS_URL="redis://127.0.0.1:9/0", GENERATION_JOBS_IN_PROCESS="0", COMFYUI_URLS="http://127.0.0.1:9"
    )
    assert found == {"before": False, "after": True, "attempts": []}


def test_in_process_jobs_need_no_broker_at_all(tmp_path):
    found = _warm_up(tmp_path, GENERATION_JOBS_IN_PROCESS="1", COMFYUI_URLS="http://127.0.0.1:9")
    assert found == {"before": False, "after": False, "attempts": []}
