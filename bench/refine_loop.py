"""The auto-refine loop on twenty ideas (bench/refine_ideas.json), through the studio's own services.

For each idea: a fresh session with auto-refine on; Pixel writes the first brief from the idea, the studio
renders it, Lens scores it, and the loop runs until it stops by itself. Printed per idea and in total: the
attempts used, the score of the first and of the kept attempt, the elements missing first and last, and how
the loop ended. The baseline is the first attempt, measured in the same run: the kept score must be at least
the first score for every idea, and every loop must stop by itself (exit status 1 otherwise).

By default the engines are the fakes (tests/fakes): a vision critic that scores what the picture's embedded
prompt carries of the artist's elements, and a Pixel that adds what the critic found missing, except the
ideas' "hard" elements. With --real, the engines are yours (see PERFORMANCE.md):

    .venv/bin/python bench/refine_loop.py                       # the fakes, 20 ideas, about a minute
    .venv/bin/python bench/refine_loop.py --ideas 5 --attempts 4 --threshold 9
    OLLAMA_URL=http://127.0.0.1:11434 COMFYUI_URLS=http://127.0.0.1:8188 \\
        .venv/bin/python bench/refine_loop.py --real --critic qwen2.5vl:7b --pixel llama3.2 --ideas 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

IDEAS = Path(__file__).resolve().parent / "refine_ideas.json"
# Settings this bench decides for itself; the rest of the environment (a real OLLAMA_URL...) is kept.
OWN_ENVIRONMENT = ("DATABASE_URL", "REDIS_URL", "STUDIO_DATA_DIR", "MEDIA_ROOT")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ideas", type=int, default=20, help="how many of the ideas to run (from the first)")
    parser.add_argument("--attempts", type=int, default=3, help="the loop's attempts at most (default 3)")
    parser.add_argument("--threshold", type=int, default=8, help="the score that ends the loop (default 8)")
    parser.add_argument("--real", action="store_true", help="use OLLAMA_URL and COMFYUI_URLS instead of the fakes")
    parser.add_argument("--critic", default="llava:7b", help="Lens's model (one that sees images)")
    parser.add_argument("--pixel", default="llama3.2", help="Pixel's model")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per idea before it counts as stuck")
    return parser.parse_args(argv)


def configure(data_dir: str, args: argparse.Namespace) -> list:
    """The environment for one in-process studio on SQLite in ``data_dir``; the fakes started unless --real."""
    for name in OWN_ENVIRONMENT:
        os.environ.pop(name, None)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="studio.settings",
        STUDIO_DATA_DIR=data_dir,
        LLM_EMBEDDED_ENABLED="0",
        GENERATION_JOBS_IN_PROCESS="1",
        STUDIO_CLARIFY="0",
        LOG_LEVEL="WARNING",
    )
    if args.real:
        return []
    from tests.fakes.comfyui import FakeComfyUI
    from tests.fakes.ollama import FakeOllama

    ollama = FakeOllama(token_delay=0.0, models=[args.pixel, args.critic]).start()
    comfyui = FakeComfyUI(step_delay=0.0).start()
    os.environ.update(OLLAMA_URL=ollama.url, LLM_BACKEND="ollama", COMFYUI_URLS=comfyui.url, COMFYUI_SHARES_GPU="none")
    return [ollama, comfyui]


def begin(user, idea: str, args: argparse.Namespace):
    """A session whose artist said ``idea``, in synthesis: Pixel writes the first brief from it."""
    from specialists.models import Conversation, Phase, Role
    from studio.core.models import Session

    session = Session.objects.create(
        owner=user,
        title=idea[:60],
        settings={"auto_refine": {"on": True, "attempts": args.attempts, "threshold": args.threshold}},
        model_assignments={"technical": args.pixel, "critic": args.critic},
    )
    conversation = Conversation.objects.create(session=session, phase=Phase.SYNTHESIS)
    conversation.append_message(Role.USER, idea, opens_turn=True)
    return session


def generate_live_brief(session, user) -> None:
    """The artist's Generate on Pixel's brief."""
    from generations.services.generate import start_generation
    from specialists.models import Conversation
    from specialists.services.turns import latest_brief

    brief = latest_brief(Conversation.objects.current(session))
    if brief is None:
        raise RuntimeError(f"Pixel wrote no usable brief for {session.title!r}")
    start_generation(session, brief.brief, user=user)


def _busy(session) -> tuple[int, bool]:
    """The conversation's id, and whether a render is still going or its result is not in the chat yet."""
    from tests.fixtures.conversations import renders_pending

    conversation, busy = renders_pending(session)
    return conversation.pk, busy


async def drive(session, timeout: float) -> None:
    """Run the team, and wait for each render it starts, until the conversation waits for the artist."""
    from asgiref.sync import sync_to_async

    from specialists.services import runs

    deadline = time.monotonic() + timeout
    while True:
        conversation_id, busy = await sync_to_async(_busy)(session)
        if not busy:
            await asyncio.wait_for(runs.run_pending(conversation_id), timeout)
            if not (await sync_to_async(_busy)(session))[1]:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{session.title!r} did not come to rest within {timeout:.0f} s")
        await asyncio.sleep(0.05)


def _lacking(review) -> list[str]:
    return [element["name"] for element in review.lacking()] if review is not None else []


def outcome(session) -> dict:
    from specialists.models import RefineLoop, Review

    reviews = list(Review.objects.filter(message__conversation__session=session).order_by("pk"))
    loop = RefineLoop.objects.filter(conversation__session=session).select_related("keeper").first()
    first = reviews[0] if reviews else None
    return {
        "idea": session.title,
        "attempts": loop.attempts if loop else len(reviews),
        "first": first.score if first else None,
        "kept": loop.keeper.score if loop and loop.keeper else (first.score if first else None),
        "missing_first": _lacking(first),
        "missing_last": _lacking(reviews[-1] if reviews else None),
        "stopped": loop is not None and not loop.is_open,
        "ending": (loop.note or loop.get_ending_display()) if loop else "no loop (Lens did not score)",
    }


async def run_idea(user, entry: dict, args: argparse.Namespace, fake_ollama) -> dict:
    from asgiref.sync import sync_to_async

    from tests.fakes.critic import TeamResponder

    if fake_ollama is not None:
        fake_ollama.responder = TeamResponder(cannot_draw=tuple(entry.get("hard", ())))
    started = time.monotonic()
    session = await sync_to_async(begin)(user, entry["idea"], args)
    await drive(session, args.timeout)  # Pixel writes the first brief; Lens looks it over
    await sync_to_async(generate_live_brief)(session, user)
    await drive(session, args.timeout)
    row = await sync_to_async(outcome)(session)
    row["seconds"] = time.monotonic() - started
    return row


def _names(elements: list[str]) -> str:
    return ", ".join(elements) if elements else "—"


def report(rows: list[dict]) -> int:
    failures = 0
    print(f"{'#':>2}  {'attempts':>8}  {'first':>5}  {'kept':>4}  {'ended':<34} missing first → missing last")
    for number, row in enumerate(rows, start=1):
        ok = row["kept"] is not None and row["first"] is not None and row["kept"] >= row["first"] and row["stopped"]
        failures += not ok
        print(
            f"{number:>2}  {row['attempts']:>8}  {row['first'] if row['first'] is not None else '—':>5}  "
            f"{row['kept'] if row['kept'] is not None else '—':>4}  {row['ending']:<34} "
            f"{_names(row['missing_first'])} → {_names(row['missing_last'])}{'' if ok else '   <- FAILS'}"
        )
        print(f"    {row['idea']}  ({row['seconds']:.1f} s)")
    scored = [r for r in rows if r["first"] is not None and r["kept"] is not None]
    if scored:
        first = sum(r["first"] for r in scored) / len(scored)
        kept = sum(r["kept"] for r in scored) / len(scored)
        print(
            f"\ntotal: {len(rows)} ideas, {sum(r['attempts'] for r in rows)} attempts; mean score first {first:.2f}, "
            f"kept {kept:.2f} (kept / first = {kept / first if first else float('nan'):.2f}); "
            f"{sum(1 for r in rows if r['stopped'])} of {len(rows)} loops stopped by themselves"
        )
    print("ok: every kept score >= the first, every loop stopped" if not failures else f"{failures} ideas FAIL")
    return 1 if failures else 0


def main(argv=None) -> int:
    args = parse_args(argv)
    ideas = json.loads(IDEAS.read_text())["ideas"][: args.ideas]
    data_dir = tempfile.mkdtemp(prefix="refine-bench-")
    engines = configure(data_dir, args)
    try:
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        user = get_user_model().objects.create_user("bench")
        fake_ollama = engines[0] if engines else None
        rows = [asyncio.run(run_idea(user, entry, args, fake_ollama)) for entry in ideas]
        return report(rows)
    finally:
        for engine in engines:
            engine.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
