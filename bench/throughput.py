"""How much one web process sustains before the token delay p99 passes 50 ms, and its memory per session.

Ramp: at each step N sessions start an ideation round at once (3 specialists one after another,
~44 tokens each at --token-delay) on one daphne; the per-token delay engine -> websocket client is
measured as in streaming_latency.py. The ramp stops at the first step whose p99 is over 50 ms; the
last step under it is what the process sustains (tokens/s and replies/s delivered to clients).
Baseline: the same token rate read directly from the fake Ollama (httpx), for the ratio.

Memory: RSS of the daphne process with no socket, with N idle sockets, and at its peak while those
N sessions stream (sampled every 100 ms): per idle session and extra per active session.

    .venv/bin/python bench/throughput.py                      # default ramp, ~1-2 min
    .venv/bin/python bench/throughput.py --ramp 5,10,20,30,40 --memory-sessions 100
    DATABASE_URL=... REDIS_URL=... .venv/bin/python bench/throughput.py --scaled-only
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (  # noqa: E402
    Stack,
    add_scaled_flags,
    baseline_delays,
    install_signal_handlers,
    load_average,
    machine_info,
    ms,
    open_clients,
    print_machine,
    ratio,
    run_turn,
    scaled_urls,
    summary,
    table,
    wait_quiet,
)

LIMIT_P99 = 0.050


async def ramp(stack: Stack, steps: list[int], token_delay: float, memory_sessions: int, timeout: float) -> dict:
    fake = stack.start_ollama(token_delay=token_delay)
    stack.migrate()
    sessions = stack.prepare(1 + sum(steps) + memory_sessions)
    [web] = stack.start_web(1)
    warm = await open_clients([(web, sessions[0])])
    await run_turn(warm, fake, timeout=timeout)
    for client in warm:
        await client.close()
    used = 1
    results = []
    for count in steps:
        clients = await open_clients([(web, s) for s in sessions[used : used + count]])
        used += count
        turn = await run_turn(clients, fake, timeout=timeout)
        for client in clients:
            await client.close()
        stats = summary(turn.delays)
        span = max(turn.seconds, 1e-6)  # from the ideas leaving the clients to the last reply settled
        results.append({"sessions": count, "stats": stats, "turn": turn, "tokens_per_s": turn.tokens / span,
                        "replies_per_s": turn.replies / span, "offered": count / token_delay})
        if stats["p99"] > LIMIT_P99 or turn.settled < turn.sessions:
            break

    await asyncio.sleep(1.0)
    rss_empty = web.proc.rss_mb()
    clients = await open_clients([(web, s) for s in sessions[used : used + memory_sessions]])
    await asyncio.sleep(1.0)
    rss_idle = web.proc.rss_mb()
    peak = rss_idle

    async def sample():
        nonlocal peak
        while True:
            peak = max(peak, web.proc.rss_mb())
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    await run_turn(clients, fake, timeout=timeout)
    sampler.cancel()
    for client in clients:
        await client.close()
    memory = {"sessions": memory_sessions, "empty": rss_empty, "idle": rss_idle, "peak": peak}
    return {"ramp": results, "memory": memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ramp", default="1,5,10,20,40,60,100", help="concurrent sessions per step")
    parser.add_argument("--token-delay", type=float, default=0.02, help="seconds between tokens per stream")
    parser.add_argument("--memory-sessions", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--scaled-only", action="store_true", help="skip the SQLite configuration")
    parser.add_argument("--wait-quiet", type=float, default=0, help="wait up to this long for an idle machine")
    add_scaled_flags(parser)
    args = parser.parse_args()
    install_signal_handlers()
    steps = [int(n) for n in args.ramp.split(",")]
    database_url, redis_url = scaled_urls(args)
    configs = [] if args.scaled_only else [("1 daphne · SQLite · in-memory", None, None)]
    if database_url:
        configs.append(("1 daphne · PostgreSQL · Redis", database_url, redis_url))
    wait_quiet(args.wait_quiet)
    print_machine(machine_info(database_url, redis_url), [c[0] for c in configs])
    print(f"token delay {args.token_delay * 1000:g} ms per stream; a step passes while p99 ≤ {LIMIT_P99 * 1000:g} ms\n")

    rows, memory_rows = [], []
    for label, db, rd in configs:
        with Stack(label, database_url=db, redis_url=rd) as stack:
            result = asyncio.run(ramp(stack, steps, args.token_delay, args.memory_sessions, args.timeout))
            base = {r["sessions"]: summary(asyncio.run(baseline_delays(stack.env["OLLAMA_URL"], r["sessions"])))
                    for r in result["ramp"]}
        for r in result["ramp"]:
            stats, floor = r["stats"], base[r["sessions"]]
            passed = stats["p99"] <= LIMIT_P99 and r["turn"].settled == r["turn"].sessions
            rows.append([label, r["sessions"], f"{r['offered']:.0f}", f"{r['tokens_per_s']:.0f}",
                         f"{r['replies_per_s']:.1f}", ms(stats["p50"]), ms(stats["p99"]), ms(floor["p99"]),
                         ratio(stats["p99"], floor["p99"]), "yes" if passed else "NO"])
        mem = result["memory"]
        n = mem["sessions"]
        memory_rows.append([label, f"{mem['empty']:.1f}", n, f"{mem['idle']:.1f}",
                            f"{(mem['idle'] - mem['empty']) * 1024 / n:.0f}", f"{mem['peak']:.1f}",
                            f"{(mem['peak'] - mem['idle']) * 1024 / n:.0f}"])
    print(f"after the run: {load_average()}\n")
    print(table(["configuration", "sessions", "offered tok/s", "delivered tok/s", "replies/s", "p50 ms", "p99 ms",
                 "direct p99 ms", "p99 ratio", "p99≤50ms"], rows))
    print()
    print(table(["configuration", "RSS no socket MB", "sockets", "RSS idle MB", "KB per idle session",
                 "RSS streaming peak MB", "extra KB per active session"], memory_rows))
    for label in dict.fromkeys(r[0] for r in rows):
        passing = [r for r in rows if r[0] == label and r[-1] == "yes"]
        if passing:
            best = passing[-1]
            print(f"\n{label}: sustains {best[1]} sessions = {best[3]} tokens/s and {best[4]} replies/s "
                  f"with p99 {best[6]} ms")
        else:
            print(f"\n{label}: no step kept p99 ≤ {LIMIT_P99 * 1000:g} ms")


if __name__ == "__main__":
    main()
