from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "studio.core"
    label = "core"
    verbose_name = "Studio sessions"

    def ready(self):
        from studio.core import checks, signals  # noqa: F401 - registers the check and the receivers
