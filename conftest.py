import os
import shutil

import pytest

from tests.mutation_runs import quickest_first, warm_before_forking

pytest_plugins = [
    "tests.fixtures.engines",
    "tests.fixtures.render_farm",
    "tests.fixtures.users",
    "tests.fixtures.websockets",
]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """An SQLite test database is a file in this run's own temporary folder. A file, because Django's in-memory
    test database fails a read that meets a worker thread's write at once ('table is locked') where a file waits;
    this run's own folder, so a test run writes nothing into the repository and runs side by side (the mutation
    tester forks several) never share one.

    STUDIO_TEST_DB_TEMPLATE names an already migrated test database to start from, with --reuse-db: the mutation
    tester (scripts/mutation.py) runs the suite once per mutant, and migrating takes longer than most tests."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        name = tmp_path_factory.getbasetemp() / "test-studio.sqlite3"
        database.setdefault("TEST", {})["NAME"] = str(name)
        if template := os.environ.get("STUDIO_TEST_DB_TEMPLATE"):
            shutil.copyfile(template, name)


@pytest.fixture(autouse=True)
def _quick_password_hashing(request, settings):
    """Hashing a password the real way takes a third of a second, and most tests make two users. Browser tests
    keep the real hasher: the server they sign in to runs with the studio's own settings."""
    if request.node.get_closest_marker("e2e") is None:
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _team_answers_at_once(settings):
    """Most tests follow the team's replies to an idea; the clarifying question has tests of its own
    (specialists/tests/test_clarifying.py), which turn it on."""
    settings.STUDIO_CLARIFY = False


def pytest_configure(config):
    from tests.watchdog import open_terminal

    open_terminal()


def pytest_collection_modifyitems(config, items):
    import inspect

    for item in items:
        function = getattr(item, "function", None)
        if (
            function is not None
            and inspect.iscoroutinefunction(function)
            and "_cancel_leftovers" not in item.fixturenames
        ):
            # Last, so it is torn down first, while the test's loop still runs (tests/fixtures/websockets.py).
            item.fixturenames.append("_cancel_leftovers")
    quickest_first(items)


def pytest_collection_finish(session):
    warm_before_forking()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    from tests.watchdog import Watchdog

    with Watchdog(item.nodeid):
        return (yield)
