"""Reads from async code that ride out the database cutting a connection (a restart, a failover, an admin's kill)."""

import functools

from asgiref.sync import sync_to_async
from django.db import InterfaceError, OperationalError, connections


def close_cut_connections() -> None:
    """Close this context's connections the database cut, so the next query opens a new one."""
    for connection in connections.all(initialized_only=True):
        # Never inside a caller's transaction (a test's, a management command's): closing would lose it.
        if connection.connection is not None and not connection.in_atomic_block and not connection.is_usable():
            connection.close()


def async_read(func):
    """`sync_to_async` for a function that only reads: if the connection was cut under it, reconnect and
    read once more. Django checks a connection's health once per request, but a socket's tasks share the
    connection, so a cut can land between that check and the read."""

    @functools.wraps(func)
    def read(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (OperationalError, InterfaceError):
            close_cut_connections()
            return func(*args, **kwargs)

    return sync_to_async(read)
