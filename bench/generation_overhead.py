"""What the studio adds around a ComfyUI run, and how the generation queue scales with servers.

1. Overhead, one generation at a time: the artist says "generate" on the websocket (the same path as
   the brief card's button) -> the fake ComfyUI receives POST /prompt ("submit"); the fake announces
   the end (executing null) -> the websocket client has the completed card with its image ("shown").
   Baseline: a direct client of the same fake (httpx POST /prompt + its websocket), same two delays.
   Targets: < 300 ms each.
2. Queue scaling: N generations started at once across N sessions, with 1, 2 and 4 fake ComfyUI
   servers (COMFYUI_URLS); jobs/s from the first "generate" to the last card shown. With DATABASE_URL
   and REDIS_URL set this runs on a Celery worker (prefork, concurrency 2 x servers); without, on
   the in-process worker pool. Target: >= 3.6x the jobs/s at 4 servers vs 1.

The fakes run in this process (their send times are read directly); daphne, the worker and the
fake Ollama (Lens comments on each result) are subprocesses.

    .venv/bin/python bench/generation_overhead.py
    DATABASE_URL=postgres://root@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/generation_overhead.py --samples 20 --jobs 24
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (  # noqa: E402
    Profile,
    Stack,
    add_scaled_flags,
    install_signal_handlers,
    load_average,
    machine_info,
    ms,
    open_clients,
    print_machine,
    ratio,
    scaled_urls,
    summary,
    table,
)
from tests.fakes.comfyui import FakeComfyUI  # noqa: E402
from tests.processes import wait_log  # noqa: E402

TARGET = 0.300
_GENERATION = re.compile(r"_g(\d+)")


class TimedComfyUI(FakeComfyUI):
    """The fake ComfyUI, noting when each prompt arrives and when it announces the end."""

    def __init__(self, **knobs):
        super().__init__(**knobs)
        self.received: dict[str, float] = {}
        self.finished: dict[str, float] = {}

    async def _post_prompt(self, request):
        arrived = time.time()
        response = await super()._post_prompt(request)
        if response.status == 200:
            self.received[json.loads(response.text)["prompt_id"]] = arrived
        return response

    async def _send(self, kind: str, data: dict, sid):
        if kind == "executing" and data.get("node") is None and data.get("prompt_id"):
            self.finished.setdefault(data["prompt_id"], time.time())
        await super()._send(kind, data, sid)

    def prompt_of(self, generation_id: int) -> str | None:
        for record in self.prompts:
            for node in record["prompt"].values():
                prefix = str((node.get("inputs") or {}).get("filename_prefix", ""))
                found = _GENERATION.search(prefix)
                if node.get("class_type") == "SaveImage" and found and int(found.group(1)) == generation_id:
                    return record["prompt_id"]
        return None


def start_fakes(count: int, step_delay: float) -> list[TimedComfyUI]:
    return [TimedComfyUI(step_delay=step_delay, previews=False).start() for _ in range(count)]


def start_studio(stack: Stack, fakes: list[TimedComfyUI], sessions: int, *, concurrency: int):
    stack.env["COMFYUI_URLS"] = ",".join(f.url for f in fakes)
    infos = stack.prepare(sessions, review=True)
    procs = []
    if stack.scaled:
        queues = ",".join(["studio"] + [f"comfyui.{i}" for i in range(len(fakes))])
        worker = stack.spawn(
            f"celery-{len(fakes)}",
            [sys.executable, "-m", "celery", "-A", "studio", "worker", "-Q", queues, "-c", str(concurrency),
             "-l", "info", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        )
        wait_log(worker, r"ready\.", timeout=60)
        procs.append(worker)
    [web] = stack.start_web(1)
    procs.append(web.proc)
    return web, infos, procs


async def generate(client) -> float:
    sent = time.time()
    await client.send({"action": "message", "text": "generate"})
    return sent


def shown(client) -> dict[int, float]:
    return {gid: seen["shown"] for gid, seen in client.cards.items() if "shown" in seen}


async def overhead(stack: Stack, samples: int, step_delay: float, timeout: float, profile: Path | None) -> dict:
    [fake] = start_fakes(1, step_delay)
    try:
        web, infos, procs = start_studio(stack, [fake], samples + 1, concurrency=2)
        submit, visible, card = [], [], []
        spy = None
        if profile:
            spy = Profile(web.proc, profile / f"generation-{stack.label.replace(' ', '')}.txt", idle=True)
            spy.__enter__()
        for index, info in enumerate(infos):
            [client] = await open_clients([(web, info)])
            sent = await generate(client)
            if not await client.wait_for(lambda c: shown(c), timeout):
                raise RuntimeError(f"no finished card within {timeout}s:\n{web.proc.tail()}")
            [(generation_id, seen)] = shown(client).items()
            await client.close()
            prompt_id = fake.prompt_of(generation_id)
            if index == 0 or prompt_id is None:
                continue  # the first one warms the process up (imports, templates, connections)
            submit.append(fake.received[prompt_id] - sent)
            visible.append(seen - fake.finished[prompt_id])
            first_card = min(client.cards[generation_id].values())
            card.append(first_card - sent)
        if spy:
            spy.__exit__(None, None, None)
            print(f"(py-spy profile with idle frames and thread ids: {spy.path})")
        workflow = fake.prompts[-1]["prompt"]
        base_submit, base_visible = await direct_client(fake, workflow, samples)
        for proc in procs:
            stack.stop(proc)
    finally:
        fake.stop()
    return {"submit": summary(submit), "visible": summary(visible), "base_submit": summary(base_submit),
            "base_visible": summary(base_visible), "card": summary(card)}


async def direct_client(fake: TimedComfyUI, workflow: dict, samples: int) -> tuple[list[float], list[float]]:
    """The floor: a client talking to the fake directly (what any ComfyUI front end pays)."""
    import httpx
    from websockets.asyncio.client import connect

    submit, visible = [], []
    client_id = uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=fake.url, timeout=30) as http, connect(
        f"ws://{fake.host}:{fake.port}/ws?clientId={client_id}", max_size=None
    ) as ws:
        for _ in range(samples + 1):
            prompt = json.loads(json.dumps(workflow))
            for node in prompt.values():
                if "seed" in (node.get("inputs") or {}):
                    node["inputs"]["seed"] = uuid.uuid4().int % 2**31  # never served from the cache
            sent = time.time()
            response = await http.post("/prompt", json={"prompt": prompt, "client_id": client_id})
            prompt_id = response.json()["prompt_id"]
            while True:
                frame = await ws.recv()
                if isinstance(frame, str):
                    message = json.loads(frame)
                    data = message.get("data") or {}
                    ended = message["type"] == "executing" and data.get("node") is None
                    if ended and data.get("prompt_id") == prompt_id:
                        got = time.time()
                        break
            submit.append(fake.received[prompt_id] - sent)
            visible.append(got - fake.finished[prompt_id])
    return submit[1:], visible[1:]


async def scaling(stack: Stack, servers: int, jobs: int, step_delay: float, timeout: float) -> dict:
    fakes = start_fakes(servers, step_delay)
    try:
        web, infos, procs = start_studio(stack, fakes, jobs, concurrency=2 * servers)
        clients = await open_clients([(web, info) for info in infos])
        started = time.time()
        await asyncio.gather(*(generate(c) for c in clients))
        done = await asyncio.gather(*(c.wait_for(lambda c: shown(c), timeout) for c in clients))
        last = max((t for c in clients for t in shown(c).values()), default=time.time())
        for client in clients:
            await client.close()
        per_server = [len(f.prompts) for f in fakes]
        # When each server got its first job, and how far apart its jobs finished after that.
        first_submit = max((min(f.received.values()) for f in fakes if f.received), default=started) - started
        periods = [b - a for f in fakes for a, b in itertools.pairwise(sorted(f.finished.values()))]
        for proc in procs:
            stack.stop(proc)
    finally:
        for fake in fakes:
            fake.stop()
    seconds = last - started
    return {"servers": servers, "jobs": sum(done), "seconds": seconds, "rate": sum(done) / seconds,
            "per_server": per_server, "first_submit": first_submit,
            "period": statistics.median(periods) if periods else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=8, help="generations measured one at a time")
    parser.add_argument("--jobs", type=int, default=12, help="generations started at once for the scaling run")
    parser.add_argument("--servers", default="1,2,4", help="ComfyUI server counts for the scaling run")
    parser.add_argument("--step-delay", type=float, default=0.1, help="seconds per sampler step (8 steps a job)")
    parser.add_argument("--timeout", type=float, default=90)
    parser.add_argument("--profile", type=Path, help="directory for a py-spy profile of daphne (overhead part)")
    parser.add_argument("--scaling-only", action="store_true", help="skip the overhead part")
    add_scaled_flags(parser)
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    install_signal_handlers()
    database_url, redis_url = scaled_urls(args)
    configs = ["overhead: 1 daphne · SQLite · in-process worker pool"]
    if database_url:
        configs.append("overhead: 1 daphne · PostgreSQL · Redis · Celery worker")
    configs.append(
        "scaling: " + ("PostgreSQL · Redis · Celery worker (prefork, 2 × servers)" if database_url
                       else "SQLite · in-process worker pool (set DATABASE_URL and REDIS_URL for Celery)")
    )
    print_machine(machine_info(database_url, redis_url), configs)
    print(f"fake ComfyUI: 8 sampler steps × {args.step_delay * 1000:g} ms, no previews\n")

    rows = []
    overhead_configs = [("SQLite · in-process pool", None, None)] + (
        [("PostgreSQL · Redis · Celery", database_url, redis_url)] if database_url else []
    )
    for label, db, rd in [] if args.scaling_only else overhead_configs:
        with Stack(label, database_url=db, redis_url=rd) as stack:
            stack.start_ollama(token_delay=0.005)
            stack.migrate()
            result = asyncio.run(overhead(stack, args.samples, args.step_delay, args.timeout, args.profile))
        for key, what in (("submit", "generate → ComfyUI has /prompt"), ("visible", "executing null → card shown")):
            stats, base = result[key], result[f"base_{key}"]
            rows.append([label, what, stats["n"], ms(stats["p50"]), ms(stats["p90"]), ms(stats["max"]),
                         f"{ms(base['p50'])} / {ms(base['max'])}", ratio(stats["p50"], base["p50"]),
                         "yes" if stats["max"] < TARGET else "NO"])
        card = result["card"]
        print(f"{label}: generate → the card's first frame on the client (before the worker starts): "
              f"p50 {ms(card['p50'])} ms, max {ms(card['max'])} ms")
    if rows:
        print()
        print(table(["configuration", "span", "n", "p50 ms", "p90 ms", "max ms", "direct client p50/max ms",
                     "p50 ratio", "max<300ms"], rows))
    print()

    counts = [int(n) for n in args.servers.split(",")]
    with Stack("scaling", database_url=database_url, redis_url=redis_url) as stack:
        stack.start_ollama(token_delay=0.005)
        stack.migrate()
        results = [asyncio.run(scaling(stack, n, args.jobs, args.step_delay, args.timeout)) for n in counts]
    base = results[0]["rate"]
    print(f"after the run: {load_average()}\n")
    print(table(
        ["ComfyUI servers", "jobs done", "seconds", "jobs/s", f"vs {counts[0]} server(s)", "prompts per server",
         "last server's first /prompt s", "job period per server s"],
        [[r["servers"], f"{r['jobs']}/{args.jobs}", f"{r['seconds']:.2f}", f"{r['rate']:.2f}", ratio(r["rate"], base),
          ",".join(map(str, r["per_server"])), f"{r['first_submit']:.2f}", f"{r['period']:.2f}"] for r in results],
    ))
    if 4 in counts and 1 in counts:
        rate = {r["servers"]: r["rate"] for r in results}
        four = rate[4] / rate[1]
        print(f"\n4 vs 1 servers: {four:.2f}× (target ≥ 3.6×: {'met' if four >= 3.6 else 'NOT met'})")


if __name__ == "__main__":
    main()
