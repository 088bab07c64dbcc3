"""Time of one ideation round (Luna, Frame and Saga answer the artist) with the session setting
`concurrent` off (one after another) and on (the three stream at the same time).

A real daphne on SQLite, the fake Ollama CLI (it answers concurrent requests concurrently, like
an Ollama with OLLAMA_NUM_PARALLEL >= 3) and a websocket client per round: the clock runs from the
artist's message leaving the client to the third reply being complete on the client. Rounds
alternate between the two settings; the ratio of the medians is printed.

    .venv/bin/python bench/round_time.py                  # 5 rounds each, ~1 min
    .venv/bin/python bench/round_time.py --rounds 15 --token-delay 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (  # noqa: E402
    Stack,
    install_signal_handlers,
    load_average,
    machine_info,
    open_clients,
    print_machine,
    table,
)


async def one_round(web, session, fake, timeout: float) -> tuple[float, float]:
    """Seconds from sending the idea to the last reply complete on the client; and how much the three
    engine requests overlapped (0 = one after another, 1 = fully together)."""
    [client] = await open_clients([(web, session)])
    await asyncio.to_thread(fake.reset)
    started = time.monotonic()
    await client.send({"action": "message", "text": f"{session.tag}: a lighthouse keeper's cat at dusk"})
    if not await client.wait_for(lambda c: c.settled(3), timeout):
        raise RuntimeError(f"the round did not finish within {timeout}s")
    seconds = time.monotonic() - started
    await client.close()
    records = [r for r in await asyncio.to_thread(fake.chat_records) if session.tag in str(r.get("json"))]
    spans = [(r["started"], r["finished"]) for r in records]
    union = max(end for _, end in spans) - min(start for start, _ in spans)
    busy = sum(end - start for start, end in spans)
    overlap = (busy - union) / (busy - busy / len(spans)) if len(spans) > 1 and busy > union else 0.0
    return seconds, overlap


async def measure(rounds: int, token_delay: float, timeout: float) -> dict[str, list[tuple[float, float]]]:
    results: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
    with Stack("round time") as stack:
        fake = stack.start_ollama(token_delay=token_delay)
        stack.migrate()
        sequential = stack.prepare(rounds + 1, settings={"concurrent": False})
        concurrent = stack.prepare(rounds, settings={"concurrent": True})
        [web] = stack.start_web(1)
        await one_round(web, sequential.pop(), fake, timeout)  # warm-up
        for n in range(rounds):
            results["off"].append(await one_round(web, sequential[n], fake, timeout))
            results["on"].append(await one_round(web, concurrent[n], fake, timeout))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="rounds per setting")
    parser.add_argument("--token-delay", type=float, default=0.02, help="seconds between tokens")
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    install_signal_handlers()
    print_machine(machine_info(), ["1 daphne · SQLite · in-memory channel layer · fake Ollama CLI"])
    print(f"token delay {args.token_delay * 1000:g} ms; ~44 tokens per reply; 3 specialists per round\n")
    results = asyncio.run(measure(args.rounds, args.token_delay, args.timeout))
    print(f"after the run: {load_average()}\n")
    rows = []
    medians = {}
    for setting, label in (("off", "concurrent off (baseline)"), ("on", "concurrent on")):
        seconds = [s for s, _ in results[setting]]
        medians[setting] = statistics.median(seconds)
        rows.append([
            label, len(seconds), f"{medians[setting]:.2f}", f"{min(seconds):.2f}", f"{max(seconds):.2f}",
            f"{statistics.median(o for _, o in results[setting]) * 100:.0f}%",
        ])
    print(table(["setting", "rounds", "median s", "min s", "max s", "engine overlap"], rows))
    print(f"\nspeed-up (median off / median on): {medians['off'] / medians['on']:.2f}×")


if __name__ == "__main__":
    main()
