"""The Celery app: configured from Django settings (``CELERY_*``)."""

import os

from celery import Celery
from celery.signals import setup_logging

from attik import broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "attik.settings")

# filesystem:// (the embedded broker) publishes atomically: see attik/broker.py.
broker.register()

app = Celery("attik")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_django_logging(loglevel=None, **kwargs) -> None:
    """Workers and beat log like the web (settings.LOGGING: JSON or text, with context).

    The command's ``--loglevel`` still sets the level, as it did before.
    """
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)
