from django.urls import path

from specialists import consumers

websocket_urlpatterns = [
    path("ws/sessions/<int:session_id>/", consumers.StudioConsumer.as_asgi()),
]
