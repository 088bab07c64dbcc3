"""Start a process's background work on the serving event loop, with the server rather than on a request.

daphne speaks no ASGI lifespan. When it serves this application its Twisted reactor is already
installed (it runs on asyncio), so the work is started once the reactor runs: at start-up, before any
browser connects. Under any other server (and in tests) it starts on the first ASGI call instead.
"""

import sys


def started_with(start, application):
    """``application``, calling ``start()`` (idempotent, on the running loop) with the server or on first use."""
    reactor = sys.modules.get("twisted.internet.reactor")  # present only inside daphne: never import it here
    loop = getattr(reactor, "_asyncioEventloop", None)  # daphne's reactor runs on this asyncio loop
    if loop is not None:
        # Startup triggers fire just before the loop runs: start from the loop's first turn instead.
        reactor.callWhenRunning(loop.call_soon, start)

    async def app(scope, receive, send):
        start()
        return await application(scope, receive, send)

    return app
