import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from generations.services import warm  # noqa: E402
from specialists.routing import websocket_urlpatterns  # noqa: E402
from specialists.services import supervisor  # noqa: E402
from studio.core.origins import SameOriginValidator  # noqa: E402
from studio.core.services.started import started_with  # noqa: E402
from studio.core.static_files import StaticFiles  # noqa: E402

warm.warm_up_web()

application = started_with(
    supervisor.start,
    ProtocolTypeRouter(
        {
            "http": StaticFiles(django_asgi_app),
            "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        }
    ),
)
