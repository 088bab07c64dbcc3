"""What the suite does differently when the mutation tester runs it (scripts/mutation.py, TESTING.md).

mutmut runs the selected tests once per mutant, each run in a process forked from one fork server that collected
them first. Whatever that server has loaded, every run inherits instead of loading again."""

from __future__ import annotations

import gc
import json
import os
from pathlib import Path


def quickest_first(items) -> None:
    """STUDIO_TEST_DURATIONS names mutmut's statistics: the quickest tests run first. With pytest -x a mutant's
    run ends at the first test that catches it; mutmut's fork server passes the tests in no particular order, and
    one slow test first costs every mutant it does not catch."""
    path = os.environ.get("STUDIO_TEST_DURATIONS")
    if not path or not Path(path).is_file():
        return  # not under the mutation tester, or its statistics are still being gathered
    durations = json.loads(Path(path).read_text()).get("duration_by_test", {})
    items.sort(key=lambda item: durations.get(item.nodeid, float("inf")))


_warmed = False


def warm_before_forking() -> None:
    """With STUDIO_TEST_FORKED set, the process that collected the tests loads what nearly every run loads later
    (the migrations the test database is checked against, the templates, the fake engines, the image plugins),
    then freezes its objects out of the garbage collector's reach: a forked run's collections (pytest collects
    at the end of every run) then walk only what the run made, not the whole inherited heap, and do not touch,
    and so copy, the pages it shares with its parent."""
    global _warmed
    if _warmed or not os.environ.get("STUDIO_TEST_FORKED"):
        return
    _warmed = True

    from django.db.migrations.loader import MigrationLoader
    from django.template import engines
    from django.template.loader import get_template
    from PIL import Image

    import tests.fakes.comfyui
    import tests.fakes.ollama
    import tests.fakes.openai_server  # noqa: F401

    MigrationLoader(None, ignore_no_migrations=True)
    Image.init()
    for engine in engines.all():
        for folder in map(Path, engine.template_dirs):
            for template in folder.rglob("*.html"):
                get_template(str(template.relative_to(folder)), using=engine.name)
    gc.freeze()
