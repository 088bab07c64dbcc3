"""Which ComfyUI server runs a job.

With several servers (COMFYUI_URLS) a job goes only to one that answers and has every node and option its
graph uses (model files included, from that server's catalog), and of those to the one with the least work
left. A server that stops answering is skipped; a job whose server went away moves to another that can run
it (the runner asks for an alternative).
"""

from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.cache import cache
from django.db.models import F, FloatField, Sum, Value

from generations.clients.comfyui import ComfyUIClient
from generations.models import Generation
from generations.services import needs
from generations.services.catalog import clear_cache, get_catalog
from studio.errors import PermanentError, TransientError

# A health answer is reused this long: placement asks for every job, and a server that is down may cost
# a connect timeout each time.
HEALTH_SECONDS = 3.0
HEALTH_TIMEOUT = 2.0
# How long a server's last known state is remembered, to notice it coming back.
SEEN_SECONDS = 24 * 3600


def queue_for(index: int) -> str:
    return f"comfyui.{index}"


def queue_of(generation_id: int) -> str:
    """The queue of the server a generation is assigned to (the first server's if it has none)."""
    server = Generation.objects.filter(pk=generation_id).values_list("server", flat=True).first()
    return queue_for(server_index(server or "") or 0)


def server_index(server: str) -> int | None:
    try:
        return settings.COMFYUI_URLS.index(server)
    except ValueError:
        return None


def is_up(server: str, *, fresh: bool = False) -> bool:
    """Whether ComfyUI at ``server`` answers (its /system_stats), cached for HEALTH_SECONDS unless ``fresh``.

    A server seen down and now up may have restarted with other models: its catalog is read again.
    """
    cached = None if fresh else cache.get(_health_key(server))
    if cached is not None:
        return cached
    try:
        with ComfyUIClient(server, timeout=HEALTH_TIMEOUT) as client:
            client.system_stats()
        up = True
    except TransientError:
        up = False
    except PermanentError:
        up = True  # it answers, if oddly: the job's own requests will say more
    if up and cache.get(_seen_key(server)) is False:
        clear_cache(server)
    cache.set(_health_key(server), up, HEALTH_SECONDS)
    cache.set(_seen_key(server), up, SEEN_SECONDS)
    return up


def mark_down(server: str) -> None:
    """What a job's own request just found: not worth asking again for HEALTH_SECONDS."""
    cache.set(_health_key(server), False, HEALTH_SECONDS)
    cache.set(_seen_key(server), False, SEEN_SECONDS)


def forget(server: str) -> None:
    """Ask afresh next time (a server replaced by another at the same address)."""
    cache.delete_many([_health_key(server), _seen_key(server)])


def why_not(server: str, graph: dict) -> str | None:
    """Why ``server`` cannot run ``graph`` (a node or model file it lacks), or None."""
    return needs.not_runnable(get_catalog(server), graph)


def refusal(graph: dict) -> str | None:
    """Why no configured server can run ``graph``, or None when at least one can (or cannot be judged yet)."""
    reasons = []
    for server in settings.COMFYUI_URLS:
        reason = why_not(server, graph)
        if reason is None:
            return None
        reasons.append(reason)
    if len(reasons) == 1:
        return reasons[0]
    return "No ComfyUI server can run this workflow. " + " — ".join(reasons)


def choose_server(graph: dict | None = None) -> tuple[int, str]:
    """Where a new job goes: among the servers that answer and can run ``graph``, the one with the least work
    left (the first on ties). When none of them both answers and can run it, the least busy of all: the job
    then waits for its server (a restart) and its own run says what is wrong.

    With one server there is nothing to choose, and nothing is asked.
    """
    servers = settings.COMFYUI_URLS
    indexes = list(range(len(servers)))
    if len(servers) > 1:
        takes = _each(servers, lambda server: _can_take(server, graph))
        able = [i for i in indexes if takes[i]]
        indexes = able or indexes
    index = _least_busy(indexes)
    return index, servers[index]


def alternative(graph: dict, instead_of: str) -> str | None:
    """Another server that answers and can run ``graph``, the least busy one; None if there is none."""
    servers = settings.COMFYUI_URLS
    takes = _each(servers, lambda server: server != instead_of and _can_take(server, graph))
    able = [i for i in range(len(servers)) if takes[i]]
    return servers[_least_busy(able)] if able else None


def _each(servers: list[str], ask) -> list:
    """``ask`` of every server; side by side when some health answer is not cached (a server that does not
    answer then costs its timeout once, not once per server after it)."""
    if len(cache.get_many([_health_key(server) for server in servers])) == len(servers):
        return [ask(server) for server in servers]
    with ThreadPoolExecutor(max_workers=len(servers), thread_name_prefix="placement") as pool:
        return list(pool.map(ask, servers))


def _can_take(server: str, graph: dict | None) -> bool:
    return is_up(server) and (graph is None or why_not(server, graph) is None)


def _least_busy(indexes: list[int]) -> int:
    """Work left counts queued and running jobs, a running one by the share of its steps still to go.

    Counting jobs alone gave an extra job to whichever server happened to finish one first, though it
    was only a fraction of a job ahead: 24 jobs on 4 servers went 7/6/6/5 instead of 6 each, and the
    run took a job period longer (PERFORMANCE.md, queue scaling).
    """
    servers = settings.COMFYUI_URLS
    left = dict(
        Generation.objects.filter(status__in=Generation.ACTIVE, server__in=[servers[i] for i in indexes])
        .values_list("server")
        .annotate(left=Sum(Value(1.0) - F("progress"), output_field=FloatField()))
    )
    return min(indexes, key=lambda i: (left.get(servers[i], 0.0), i))


def _health_key(server: str) -> str:
    return f"comfyui-up:{server}"


def _seen_key(server: str) -> str:
    return f"comfyui-seen-up:{server}"
