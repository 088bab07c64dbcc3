"""The built-in model's server process: llama.cpp's own HTTP server (xllamacpp) on loopback.

Started by specialists.clients.embedded as ``python -m specialists.clients.embedded_main MODEL PORT OWNER_PID``.
It lives in a process of its own so that a crash inside llama.cpp (a grammar it cannot handle, an
out-of-memory) ends this process only, never the studio. It exits when the process that started it
is gone, so a killed studio leaves nothing behind.
"""

import os
import signal
import sys
import time

from specialists.clients.embedded import CONTEXT_LENGTH, pid_alive

N_THREADS = 2
OWNER_POLL_SECONDS = 1.0


def serve(model: str, port: int, owner_pid: int) -> None:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = model
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = CONTEXT_LENGTH
    params.cpuparams.n_threads = N_THREADS
    params.cpuparams_batch.n_threads = N_THREADS
    params.endpoint_metrics = False
    server = xllamacpp.Server(params)  # noqa: F841 - serves until this process ends
    while pid_alive(owner_pid):
        time.sleep(OWNER_POLL_SECONDS)


def main(argv: list[str]) -> int:
    model, port, owner = argv[1], int(argv[2]), int(argv[3])
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    serve(model, port, owner)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
