from django.apps import AppConfig


class SpecialistsConfig(AppConfig):
    name = "specialists"

    def ready(self):
        # Models (and so the receivers' modules) can only be imported once the app registry is ready.
        from generations.signals import generation_finished, generation_started, gpu_wanted
        from specialists.services import gpu_handoff, results

        def started(sender, generation, warnings, announce, **kwargs):
            results.on_generation_started(generation, warnings, announce)

        def finished(sender, generation, **kwargs):
            results.on_generation_finished(generation)

        generation_started.connect(started, weak=False, dispatch_uid="specialists.generation_started")
        generation_finished.connect(finished, weak=False, dispatch_uid="specialists.generation_finished")

        def gpu_needed(sender, generation, server, **kwargs):
            gpu_handoff.before_generation(generation, server)

        gpu_wanted.connect(gpu_needed, weak=False, dispatch_uid="specialists.gpu_wanted")
