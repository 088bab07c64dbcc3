"""The websocket origin check behind a TLS-terminating proxy, decided as Django decides is_secure()."""

import pytest

from studio.core.origins import origin_allowed


def _scope(origin: str, host: str, *, scheme: str = "ws", extra: tuple = ()) -> dict:
    headers = [(b"origin", origin.encode()), (b"host", host.encode()), *extra]
    return {"type": "websocket", "scheme": scheme, "headers": headers}


@pytest.fixture
def behind_proxy(settings):
    settings.ALLOWED_HOSTS = ["studio.example.org"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


def test_it_accepts_the_https_page_of_a_studio_behind_a_named_tls_proxy(behind_proxy):
    scope = _scope("https://studio.example.org", "studio.example.org", extra=((b"x-forwarded-proto", b"https"),))
    assert origin_allowed(scope)


def test_it_refuses_a_plain_http_page_when_the_proxy_says_https(behind_proxy):
    scope = _scope("http://studio.example.org", "studio.example.org", extra=((b"x-forwarded-proto", b"https"),))
    assert not origin_allowed(scope)


def test_it_refuses_an_https_page_when_the_proxy_says_http(behind_proxy):
    scope = _scope("https://studio.example.org", "studio.example.org", extra=((b"x-forwarded-proto", b"http"),))
    assert not origin_allowed(scope)


def test_it_ignores_a_forwarded_proto_header_nobody_configured(settings):
    settings.ALLOWED_HOSTS = ["studio.example.org"]
    settings.SECURE_PROXY_SSL_HEADER = None
    scope = _scope("https://studio.example.org", "studio.example.org", extra=((b"x-forwarded-proto", b"https"),))
    assert not origin_allowed(scope)
    assert origin_allowed(_scope("https://studio.example.org", "studio.example.org", scheme="wss"))


def test_it_accepts_the_plain_http_page_of_a_studio_on_loopback(settings):
    settings.ALLOWED_HOSTS = ["localhost"]
    assert origin_allowed(_scope("http://LocalHost:8000", "localhost:8000"))
    assert not origin_allowed(_scope("https://localhost:8000", "localhost:8000"))
    assert not origin_allowed(_scope("http://localhost:8000", "other.example:8000"))


@pytest.mark.django_db  # the denier is a Channels consumer: it tidies the database connections as each one does
async def test_the_validator_passes_what_it_allows_untouched_and_refuses_the_rest(settings):
    from studio.core.origins import SameOriginValidator

    settings.ALLOWED_HOSTS = ["localhost"]
    reached = []

    async def inner(scope, receive, send):
        reached.append(scope)

    incoming = []

    async def receive():
        # What a browser refused at the handshake sends: the connect, then the disconnect.
        if not incoming:
            incoming.extend([{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1006}])
        return incoming.pop(0)

    sent = []

    async def send(message):
        sent.append(message)

    validator = SameOriginValidator(inner)
    allowed = _scope("http://localhost:8000", "localhost:8000")
    await validator(allowed, receive, send)
    web = {"type": "http", "headers": []}  # plain HTTP is CSRF's business, not this check's
    await validator(web, receive, send)
    assert reached == [allowed, web] and sent == []

    await validator(_scope("http://localhost:8188", "localhost:8000"), receive, send)
    assert len(reached) == 2 and sent == [{"type": "websocket.close"}]  # refused at the handshake
