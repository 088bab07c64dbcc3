import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import DatabaseError, OperationalError, connection

from studio.core.services.database import async_read


class Flaky:
    """A read whose first `failures` calls raise `error`, then answers the users' names."""

    def __init__(self, failures: int, error: Exception):
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return sorted(get_user_model().objects.values_list("username", flat=True))


@pytest.fixture
def ada(transactional_db):
    return get_user_model().objects.create_user("ada")


async def test_a_read_whose_connection_was_cut_is_read_once_more(ada):
    read = Flaky(1, OperationalError("terminating connection due to administrator command"))
    assert await async_read(read)() == ["ada"]
    assert read.calls == 2


async def test_a_database_that_stays_down_is_reported_not_retried_for_ever(ada):
    read = Flaky(5, OperationalError("connection refused"))
    with pytest.raises(OperationalError):
        await async_read(read)()
    assert read.calls == 2


async def test_an_error_that_is_not_a_lost_connection_is_raised_at_once(ada):
    read = Flaky(1, DatabaseError("relation does not exist"))
    with pytest.raises(DatabaseError):
        await async_read(read)()
    assert read.calls == 1


@pytest.mark.django_db(transaction=True)
async def test_it_reconnects_after_the_server_cut_the_connection_it_had_checked():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): SQLite has no server connection to lose")
    await sync_to_async(get_user_model().objects.create_user)("ada")
    pid = await sync_to_async(lambda: connection.connection.info.backend_pid)()

    @sync_to_async
    def cut():
        import psycopg

        wanted = ("dbname", "user", "host", "port", "password")
        params = {key: value for key, value in connection.get_connection_params().items() if key in wanted}
        with psycopg.connect(**params, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            # Wait until the server has really ended it.
            while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
                pass

    await cut()
    names = sync_to_async(lambda: list(get_user_model().objects.values_list("username", flat=True)))
    with pytest.raises(OperationalError):
        await names()  # this request's health check is done: a plain read meets the cut
    assert await async_read(lambda: list(get_user_model().objects.values_list("username", flat=True)))() == ["ada"]
