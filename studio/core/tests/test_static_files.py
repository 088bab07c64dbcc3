import pytest
from asgiref.testing import ApplicationCommunicator
from django.core.asgi import get_asgi_application

from studio.core.static_files import StaticFiles

# The handler as studio/asgi.py mounts it, without the rest of the studio's application: that would start the
# supervisor on the test's loop, whose pub/sub subscription on Redis outlives the loop.
application = StaticFiles(get_asgi_application())


async def _get(path: str) -> dict:
    """The whole response, however many body messages a file response is streamed in."""
    raw_path, _, _ = path.partition("?")
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "path": raw_path,
        "query_string": b"",
        "headers": [(b"host", b"localhost:8000")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(10)
    body = b""
    while True:
        part = await communicator.receive_output(10)
        body += part.get("body", b"")
        if not part.get("more_body"):
            break
    return {"status": start["status"], "headers": start["headers"], "body": body}


@pytest.mark.parametrize(
    "path",
    [
        "/static/../secret_key",
        "/static/..%2f..%2fmanage.py",
        "/static/%2e%2e/%2e%2e/manage.py",
        "/static/css/../../manage.py",
        "/static/a%00b",
    ],
)
async def test_it_answers_404_to_a_path_that_climbs_out_of_the_static_folders(path, transactional_db):
    response = await _get(path)
    assert response["status"] == 404
    assert b"import" not in response["body"] and b"SECRET" not in response["body"]


async def test_it_still_serves_its_own_stylesheet(transactional_db):
    response = await _get("/static/css/studio.css")
    assert response["status"] == 200
    assert dict(response["headers"])[b"Content-Type"].startswith(b"text/css")
