"""Database connections that ride out the database cutting them (a restart, a failover, an admin's kill)."""

import functools

from asgiref.sync import sync_to_async
from django.db import InterfaceError, OperationalError, close_old_connections, connection


def drop_broken_connections() -> None:
    """Close this thread's connections that the database cut or that outlived their age, so the next query
    opens a new one (conn_health_checks). Never one a caller's transaction (a test's, a management command's)
    still uses: closing would lose it."""
    if not connection.in_atomic_block:
        close_old_connections()


def async_read(func):
    """`sync_to_async` for a function that only reads: if the connection was cut under it, reconnect and
    read once more. Django checks a connection's health once per request, but a socket's tasks share the
    connection, so a cut can land between that check and the read."""

    @functools.wraps(func)
    def read(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (OperationalError, InterfaceError):
            drop_broken_connections()
            return func(*args, **kwargs)

    return sync_to_async(read)
