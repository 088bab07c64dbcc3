from django.apps import AppConfig


class SpecialistsConfig(AppConfig):
    name = "specialists"

    def ready(self):
        # Models (and so the receivers' modules) can only be imported once the app registry is ready.
        from generations.signals import generation_finished, generation_started
        from specialists.services import results

        def started(sender, generation, warnings, announce, **kwargs):
            results.on_generation_started(generation, warnings, announce)

        def finished(sender, generation, **kwargs):
            results.on_generation_finished(generation)

        generation_started.connect(started, weak=False, dispatch_uid="specialists.generation_started")
        generation_finished.connect(finished, weak=False, dispatch_uid="specialists.generation_finished")
