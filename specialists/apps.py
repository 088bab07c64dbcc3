from django.apps import AppConfig


class SpecialistsConfig(AppConfig):
    name = "specialists"

    def ready(self):
        from generations.signals import generation_finished

        generation_finished.connect(_on_generation_finished, dispatch_uid="specialists.generation_finished")


def _on_generation_finished(sender, generation, **kwargs):
    from specialists.services.results import on_generation_finished

    on_generation_finished(generation)
