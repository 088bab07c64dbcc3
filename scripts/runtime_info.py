"""Prints what scripts/run.sh needs to know from the studio's settings.

    python scripts/runtime_info.py web     -> "HOST PORT WORKER": where daphne binds, and 1 when REDIS_URL
                                              is set (a separate worker is needed) else 0
    python scripts/runtime_info.py worker  -> "QUEUES CONCURRENCY" for a Celery worker: the comma-separated
                                              queues and one process per queue (at least two); exits 1
                                              with a message when REDIS_URL is unset or does not answer
    python scripts/runtime_info.py queues  -> the comma-separated queues alone

Reading them through Django settings means a mistyped variable stops here, with the
variable's name, before any process starts.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")


def worker_queues() -> list[str]:
    from django.conf import settings

    try:
        from generations.services.dispatch import worker_queues as dispatch_queues
    except ImportError:
        # One queue per ComfyUI server, so a slow server never holds up another's jobs.
        return ["studio", *(f"comfyui.{index}" for index in range(len(settings.COMFYUI_URLS)))]
    return list(dispatch_queues())


def check_redis(url: str) -> int:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis.RedisError as exc:
        print(f"Redis at {url} does not answer ({exc}): start it, or unset REDIS_URL", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except ImproperlyConfigured as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    from django.conf import settings

    what = argv[1] if len(argv) > 1 else ""
    if what == "web":
        print(settings.STUDIO_HOST, settings.STUDIO_PORT, int(bool(settings.REDIS_URL)))
    elif what == "worker":
        if not settings.REDIS_URL:
            print("error: a separate worker needs REDIS_URL (without it tasks run in the web process)", file=sys.stderr)
            return 1
        if check_redis(settings.REDIS_URL):
            return 1
        queues = worker_queues()
        print(",".join(queues), max(2, len(queues)))
    elif what == "queues":
        print(",".join(worker_queues()))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
