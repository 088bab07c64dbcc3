"""Per-token delay from the engine to a websocket client, p50/p99, against a direct-reader baseline.

The fake Ollama (its CLI, in its own process) stamps every token with time.time() as it writes it;
real websocket clients (the `websockets` library) on real daphne processes stamp every frame on
receipt. Each client's session runs one ideation round (3 specialists, one after another, ~44
tokens each); a token's delay is the moment the client first shows its last character minus the
moment the engine sent it. Baseline: the same delay for httpx reading /api/chat directly, with
as many concurrent streams. Floor: the same number of sockets on daphne with the same settings,
each forwarded a round's worth of group-sent tokens by a consumer that does nothing else
(bench/channels_floor.py), and that daphne's CPU per frame: what the framework and its channel
layer cost before the studio does anything.

Configurations: one daphne on SQLite + the in-memory channel layer (the default install), and
with DATABASE_URL (PostgreSQL) and REDIS_URL set, one and two daphne processes on channels-redis
(clients split across the processes; each session's run happens where its socket landed).

    .venv/bin/python bench/streaming_latency.py                       # default run, < 2 min on 2 cores
    DATABASE_URL=postgres://root@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/streaming_latency.py --sessions 1,100,200 --token-delay 0.02
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (  # noqa: E402
    Profile,
    Stack,
    add_scaled_flags,
    baseline_delays,
    floor_delays,
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

TARGET_P99 = 0.020
FLOOR_TOKENS = 133  # what one session's round streams: three replies from the fake engine


async def measure(
    stack: Stack, processes: int, counts: list[int], token_delay: float, timeout: float, profile_dir: Path | None
) -> list[dict]:
    floors = await measure_floor(stack, processes, counts, token_delay)
    fake = stack.start_ollama(token_delay=token_delay)
    stack.migrate()
    sessions = stack.prepare(1 + sum(counts))
    webs = stack.start_web(processes)
    # Warm-up: the first turn of a fresh process imports and compiles templates.
    warm = await open_clients([(webs[0], sessions[0])])
    await run_turn(warm, fake, timeout=timeout)
    for client in warm:
        await client.close()
    results = []
    used = 1
    for count in counts:
        pairs = [(webs[i % processes], sessions[used + i]) for i in range(count)]
        used += count
        clients = await open_clients(pairs)
        rss_before = [web.proc.rss_mb() for web in webs]
        cpu_before = sum(web.proc.cpu_seconds() for web in webs)
        threads_before = [web.proc.thread_cpu_seconds() for web in webs]
        if profile_dir and count == max(counts):
            path = profile_dir / f"{stack.label.replace(' ', '')}-{processes}p-{count}.txt"
            with Profile(webs[0].proc, path) as profile:
                turn = await run_turn(clients, fake, timeout=timeout)
            profile.report(f"daphne, {stack.label}, {processes} process(es), {count} sessions")
        else:
            turn = await run_turn(clients, fake, timeout=timeout)
        cpu = sum(web.proc.cpu_seconds() for web in webs) - cpu_before
        threads_after = [web.proc.thread_cpu_seconds() for web in webs]
        loop_cpu = sum(after[0] - before[0] for before, after in zip(threads_before, threads_after, strict=True))
        for client in clients:
            await client.close()
        results.append(
            {"sessions": count, "turn": turn, "stats": summary(turn.delays), "rss": [w.proc.rss_mb() for w in webs],
             "rss_before": rss_before, "cpu_per_token": cpu / max(1, len(turn.delays)), "floor": floors[count],
             "loop_cpu_per_token": loop_cpu / max(1, len(turn.delays))}
        )
        for web in webs:
            web.proc.check()
    return results


async def measure_floor(stack: Stack, processes: int, counts: list[int], token_delay: float) -> dict[int, dict]:
    """Daphne and this stack's channel layer forwarding a round's worth of tokens per socket, nothing else."""
    webs = stack.start_floor(processes)
    await floor_delays(webs, 1, tokens=10, token_delay=token_delay)  # warm-up
    floors = {}
    for count in counts:
        delays, cpu = await floor_delays(webs, count, tokens=FLOOR_TOKENS, token_delay=token_delay)
        floors[count] = {**summary(delays), "cpu_per_frame": cpu}
    for web in webs:
        stack.stop(web.proc)
    return floors


async def baselines(counts: list[int], token_delay: float) -> dict[int, dict]:
    with Stack("baseline") as stack:
        fake = stack.start_ollama(token_delay=token_delay)
        await baseline_delays(fake.url, 1)  # warm-up
        results = {}
        for count in counts:
            cpu_before = time.process_time()
            delays = await baseline_delays(fake.url, count)
            cpu = time.process_time() - cpu_before  # this process: httpx reading the streams
            results[count] = {**summary(delays), "cpu_per_token": cpu / max(1, len(delays))}
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", default="1,100", help="comma-separated concurrent session counts")
    parser.add_argument("--token-delay", type=float, default=0.02, help="seconds between tokens (0.02 = 50 tok/s)")
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--processes", default="1,2", help="daphne process counts for the scaled configuration")
    parser.add_argument("--profile", type=Path, help="directory for py-spy profiles of the largest run")
    parser.add_argument("--scaled-only", action="store_true", help="skip the SQLite configuration")
    parser.add_argument("--wait-quiet", type=float, default=0, help="wait up to this long for an idle machine")
    add_scaled_flags(parser)
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    install_signal_handlers()
    counts = [int(n) for n in args.sessions.split(",")]
    database_url, redis_url = scaled_urls(args)
    configs = [] if args.scaled_only else ["1 daphne · SQLite · in-memory channel layer"]
    scaled_processes = [int(n) for n in args.processes.split(",")] if database_url else []
    configs += [f"{n} daphne · PostgreSQL · channels-redis" for n in scaled_processes]
    if not database_url:
        configs.append("scaled runs skipped: set DATABASE_URL (postgres) and REDIS_URL")
    wait_quiet(args.wait_quiet)
    print_machine(machine_info(database_url, redis_url), configs)
    print(f"token delay {args.token_delay * 1000:g} ms ({1 / args.token_delay:.0f} tokens/s per stream); "
          "3 specialists per session, one after another\n")

    base = asyncio.run(baselines(counts, args.token_delay))
    rows = []
    default = [] if args.scaled_only else [("SQLite · in-memory", 1, None, None)]
    for label, processes, db, rd in default + [
        ("PostgreSQL · Redis", n, database_url, redis_url) for n in scaled_processes
    ]:
        with Stack(label, database_url=db, redis_url=rd) as stack:
            results = asyncio.run(measure(stack, processes, counts, args.token_delay, args.timeout, args.profile))
        for result in results:
            stats, turn, base_read = result["stats"], result["turn"], base[result["sessions"]]
            floor = result["floor"]
            rows.append([
                f"{processes} × daphne · {label}", result["sessions"], stats["n"], ms(stats["p50"]), ms(stats["p90"]),
                ms(stats["p99"]), ms(stats["max"]), f"{ms(base_read['p50'])} / {ms(base_read['p99'])}",
                ratio(stats["p99"], base_read["p99"]), f"{ms(floor['p50'])} / {ms(floor['p99'])}",
                "yes" if stats["p99"] < TARGET_P99 else "NO", f"{turn.settled}/{turn.sessions}",
                f"{result['cpu_per_token'] * 1000:.2f} ({result['loop_cpu_per_token'] * 1000:.2f})",
                f"{base_read['cpu_per_token'] * 1000:.2f}", f"{floor['cpu_per_frame'] * 1000:.2f}",
            ])
            if turn.unmatched or turn.alerts:
                where = f"{label}, {result['sessions']} sessions"
                print(f"  note: {turn.unmatched} replies unmatched, {turn.alerts} alerts ({where})")
    print(f"after the run: {load_average()}\n")
    print(table(
        ["configuration", "sessions", "tokens", "p50 ms", "p90 ms", "p99 ms", "max ms", "baseline p50/p99 ms",
         "p99 ratio", "floor p50/p99 ms", "p99<20ms", "settled", "web CPU ms/token (event loop)",
         "baseline CPU ms/token", "floor CPU ms/frame"],
        rows,
    ))


if __name__ == "__main__":
    main()
