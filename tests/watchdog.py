"""Say what a hung test waits for: after HUNG_AFTER seconds in one test, print every pending asyncio task
with the chain of awaits it is suspended in (faulthandler prints threads, which shows only a loop in select)."""

import asyncio
import gc
import os
import sys
import threading

HUNG_AFTER = float(os.environ.get("STUDIO_TEST_HUNG_AFTER", "240"))


def _awaits(coroutine) -> list[str]:
    lines = []
    while coroutine is not None:
        frame = getattr(coroutine, "cr_frame", None) or getattr(coroutine, "gi_frame", None)
        if frame is not None:
            lines.append(f"    {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        coroutine = getattr(coroutine, "cr_await", None) or getattr(coroutine, "gi_yieldfrom", None)
    return lines


# The terminal's own stderr, taken while pytest does not capture it (see open_terminal): a hung test's
# captured output is never shown when the run is killed.
_terminal = sys.stderr


def open_terminal() -> None:
    global _terminal
    _terminal = os.fdopen(os.dup(sys.__stderr__.fileno()), "w")


def _open_loops() -> list:
    # type(), not isinstance(): isinstance reads __class__, which sets up any lazy object (Django's settings,
    # request.user...) from this thread, and an exception here would end the dump before it says anything.
    return [obj for obj in gc.get_objects() if issubclass(type(obj), asyncio.AbstractEventLoop) and not obj.is_closed()]


def dump_pending_tasks(name: str, out=None) -> None:
    out = out or _terminal
    print(f"\n=== {name}: pending asyncio tasks", file=out, flush=True)
    try:
        for loop in _open_loops():
            for task in list(asyncio.all_tasks(loop)):
                print(f"  {task!r}", file=out)
                print("\n".join(_awaits(task.get_coro())), file=out)
    except Exception as exc:  # noqa: BLE001 - the dump must say what stopped it rather than die silently
        print(f"  (the dump stopped: {exc!r})", file=out)
    out.flush()


class Watchdog:
    def __init__(self, name: str):
        self._timer = threading.Timer(
            HUNG_AFTER, dump_pending_tasks, args=[f"{name} still runs after {HUNG_AFTER:g} s"]
        )
        self._timer.daemon = True

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc_info):
        self._timer.cancel()
