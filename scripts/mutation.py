"""Mutation testing of the modules where a bug costs most: `make mutation`.

    .venv/bin/python scripts/mutation.py                 every module below
    .venv/bin/python scripts/mutation.py origins media   the modules whose path contains one of these words

For each module, mutmut (3.x) works in a copy of the tree in a temporary folder, so nothing is written into
the repository: it mutates only that module and runs only the tests named for it below (mutmut then runs,
for each mutant, those of them that call the mutated function). It prints killed / total per module and
exits 1 when a module kills fewer than MINIMUM_SCORE of its mutants. A mutant that makes the tests hang
(a timeout) counts as killed: the suite noticed. A mutant that no selected test reaches counts as survived.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MINIMUM_SCORE = 0.85
MAX_CHILDREN = os.cpu_count() or 2
# The tests' ceilings for an event, scaled (tests/patience.py): a mutant that stops an event costs a ceiling.
PATIENCE = 0.3

# module -> the tests that guard it; the quickest first, so a partial run still says the most
TARGETS: dict[str, list[str]] = {
    "generations/services/brief.py": ["generations/tests/test_brief.py"],
    "studio/core/origins.py": [
        "studio/core/tests/test_same_origin_validator.py",
        "specialists/tests/test_studio_consumer.py::test_it_refuses_an_origin_that_is_not_the_studios_own",
        "specialists/tests/test_studio_consumer.py::test_it_accepts_an_origin_listed_in_csrf_trusted_origins",
    ],
    "studio/core/middleware.py": [
        "studio/core/tests/test_local_user_middleware.py",
        "studio/core/tests/test_login_view.py",
    ],
    "studio/core/services/accounts.py": [
        "studio/core/tests/test_accounts.py",
        "studio/core/tests/test_local_user_middleware.py",
        "studio/core/tests/test_login_view.py",
        "specialists/tests/test_studio_consumer.py::test_an_action_after_the_sign_in_ended_is_refused_and_stores_nothing",
        "specialists/tests/test_studio_consumer.py::test_signing_out_closes_that_browsers_socket_and_no_other",
        "specialists/tests/test_studio_consumer.py::test_deactivating_the_user_closes_all_their_sockets",
    ],
    "specialists/clients/base.py": [
        "specialists/tests/test_client_base.py",
        "specialists/tests/test_ollama_client.py",
        "specialists/tests/test_openai_client.py",
        "specialists/tests/test_openai_dialects.py",
    ],
    "specialists/clients/openai_compat.py": [
        "specialists/tests/test_openai_client.py",
        "specialists/tests/test_openai_dialects.py",
    ],
    "specialists/clients/ollama.py": ["specialists/tests/test_ollama_client.py"],
    "generations/clients/comfyui.py": ["generations/tests/test_comfyui_client.py"],
    "generations/services/media.py": [
        "generations/tests/test_media.py",
        "generations/tests/test_media_view.py",
        "generations/tests/test_download_view.py",
    ],
    "generations/views.py": [
        "generations/tests/test_cancel_view.py",
        "generations/tests/test_delete_output_view.py",
        "generations/tests/test_download_view.py",
        "generations/tests/test_favourite_view.py",
        "generations/tests/test_gallery_view.py",
        "generations/tests/test_media_view.py",
        "generations/tests/test_model_family_view.py",
        "generations/tests/test_reproduce_view.py",
        "generations/tests/test_rework_view.py",
        "generations/tests/test_variation_view.py",
        "generations/tests/test_viewer_view.py",
        "generations/tests/test_workflow_delete_view.py",
        "generations/tests/test_workflow_upload_view.py",
    ],
    "specialists/views.py": [
        "specialists/tests/test_engines_view.py",
        "specialists/tests/test_generate_view.py",
        "specialists/tests/test_home_view.py",
        "specialists/tests/test_model_pull_cancel_view.py",
        "specialists/tests/test_model_pull_start_view.py",
        "specialists/tests/test_model_pull_view.py",
        "specialists/tests/test_refine_loop_view.py",
        "specialists/tests/test_refine_view.py",
        "specialists/tests/test_session_delete_view.py",
        "specialists/tests/test_session_settings_view.py",
        "specialists/tests/test_studio_view.py",
        "specialists/tests/test_team_models_view.py",
        "specialists/tests/test_team_mute_view.py",
    ],
    "specialists/services/actions.py": ["specialists/tests/test_actions.py"],
    "generations/services/runner.py": [
        "generations/tests/test_runner.py",
        "generations/tests/test_run_generation_task.py",
    ],
    "specialists/consumers.py": ["specialists/tests/test_studio_consumer.py"],
}

# Any quick test that uses the database: its run leaves the migrated database behind.
TEMPLATE_TEST = "studio/core/tests/test_healthz_view.py"

# Lines whose mutants change only what a log says, not what the studio does.
DO_NOT_MUTATE_PATTERNS = [r"^\s*logger\.", r"^\s*log\."]


def mutmut_config(module: str, tests: list[str]) -> str:
    lines = [
        "[tool.mutmut]",
        'source_paths = ["studio", "specialists", "generations"]',
        f"only_mutate = {json.dumps([module])}",
        'also_copy = ["conftest.py", "manage.py", "templates", "static", "tests"]',
        # Forked straight from a process that ran the suite, a worker would inherit its database connections.
        'process_isolation = "forkserver"',
        'pytest_add_cli_args = ["-m", "not e2e and not embedded and not worker", "-p", "no:randomly", "--reuse-db"]',
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}",
        f"do_not_mutate_patterns = {json.dumps(DO_NOT_MUTATE_PATTERNS)}",
        "timeout_multiplier = 2.0",
        "timeout_constant = 3.0",
    ]
    return "\n".join(lines) + "\n"


def migrated_template(root: Path, env: dict) -> Path:
    """A migrated SQLite test database that every mutant's run copies (conftest.py), instead of migrating anew."""
    template = root / "template.sqlite3"
    if not template.exists():
        run = root / "template-run"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:randomly",
                "--reuse-db",
                f"--basetemp={run}",
                "--create-db",
                TEMPLATE_TEST,
            ],
            cwd=REPO,
            env={**env, "STUDIO_TEST_DB_TEMPLATE": ""},
            check=True,
            capture_output=True,
        )
        shutil.copyfile(run / "test-studio.sqlite3", template)
    return template


def copy_tree(destination: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = REPO / name.decode()
        if source.is_file():
            target = destination / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def count(work: Path, module: str) -> dict[str, int]:
    from mutmut.stats import status_by_exit_code

    meta = json.loads((work / "mutants" / f"{module}.meta").read_text())
    counts: dict[str, int] = {}
    for exit_code in meta["exit_code_by_key"].values():
        status = status_by_exit_code[exit_code]
        counts[status] = counts.get(status, 0) + 1
    return counts


def run_module(module: str, tests: list[str], root: Path) -> tuple[int, int, list[str]] | None:
    """killed, total and the survivors; None when mutmut tried no mutant (the selected tests failed unmutated)."""
    work = root / module.replace("/", "_")
    copy_tree(work)
    with (work / "pyproject.toml").open("a") as config:
        config.write("\n" + mutmut_config(module, tests))
    env = {**os.environ, "STUDIO_DATA_DIR": str(work / "var"), "PYTHONDONTWRITEBYTECODE": "1"}
    for name in ("DATABASE_URL", "REDIS_URL", "OLLAMA_URL", "OPENAI_BASE_URL", "COMFYUI_URLS", "LLM_BACKEND"):
        env.pop(name, None)
    env["STUDIO_TEST_DB_TEMPLATE"] = str(migrated_template(root, env))
    env["STUDIO_TEST_DURATIONS"] = str(work / "mutants" / "mutmut-stats.json")  # tests/mutation_runs.py
    env["STUDIO_TEST_PATIENCE"] = str(PATIENCE)
    env["STUDIO_TEST_FORKED"] = "1"  # tests/mutation_runs.py: the fork server loads what every run would
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    log = work / "mutmut.log"
    with log.open("w") as out:
        tried = subprocess.run(
            [mutmut, "run", "--max-children", str(MAX_CHILDREN)], cwd=work, env=env, stdout=out, stderr=out, check=False
        )
    if tried.returncode != 0:  # the tests failed unmutated (its statistics or clean run): nothing to score
        return None
    counts = count(work, module)
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    total = sum(counts.values())
    survivors = subprocess.run(
        [mutmut, "results"], cwd=work, env=env, capture_output=True, text=True, check=False
    ).stdout.splitlines()
    return killed, total, [line.strip() for line in survivors if line.strip()]


def main(argv: list[str]) -> int:
    wanted = [module for module in TARGETS if not argv or any(word in module for word in argv)]
    wanted.sort(key=lambda module: next((i for i, word in enumerate(argv) if word in module), 0))
    if not wanted:
        print(f"no module matches {argv}; modules: {', '.join(TARGETS)}")
        return 2
    root = Path(tempfile.mkdtemp(prefix="studio-mutation-"))
    print(f"working copies and mutmut logs: {root}")
    failing = []
    started = time.monotonic()
    for module in wanted:
        module_started = time.monotonic()
        outcome = run_module(module, TARGETS[module], root)
        if outcome is None:
            print(
                f"{module:42} not tried: its tests failed without a mutant (see {root}/"
                f"{module.replace('/', '_')}/mutmut.log); run them: .venv/bin/pytest {' '.join(TARGETS[module])}",
                flush=True,
            )
            failing.append(module)
            continue
        killed, total, survivors = outcome
        score = killed / total if total else 1.0
        seconds = time.monotonic() - module_started
        print(f"{module:42} {killed:5} / {total:<5} killed  {score:6.1%}  {seconds:6.0f} s", flush=True)
        (root / f"{module.replace('/', '_')}.survivors.txt").write_text("\n".join(survivors) + "\n")
        if score < MINIMUM_SCORE:
            failing.append(module)
    print(f"total time {time.monotonic() - started:.0f} s")
    if failing:
        print(f"below {MINIMUM_SCORE:.0%} or not tried: {', '.join(failing)} (survivors in {root}/*.survivors.txt)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
