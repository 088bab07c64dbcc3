from django.apps import AppConfig


class GenerationsConfig(AppConfig):
    name = "generations"

    def ready(self):
        # Models (and so the handlers' modules) can only be imported once the app registry is ready.
        from celery.signals import worker_init, worker_ready
        from django.db.models.signals import post_delete

        from generations.models import MediaOutput
        from generations.services import media, worker

        worker_init.connect(worker.warm_up_before_forking, weak=False, dispatch_uid="generations.warm_up")
        worker_ready.connect(worker.recover_on_worker_start, weak=False, dispatch_uid="generations.recover")
        post_delete.connect(media.delete_file, sender=MediaOutput, weak=False, dispatch_uid="generations.media_file")
