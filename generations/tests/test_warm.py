from generations.services import warm
from studio.celery import app


def test_the_web_process_prepares_its_first_enqueue_without_connecting_to_anything(settings):
    settings.GENERATION_JOBS_IN_PROCESS = False
    settings.COMFYUI_URLS = ["http://127.0.0.1:9"]  # nothing listens there
    app.amqp._producer_pool = None
    warm.warm_up_web()  # no django_db mark: a query here would fail the test
    pool = app.amqp._producer_pool
    assert pool is not None, "the producer pool (and with it the broker transport) was not set up"
