"""The Celery app: configured from Django settings (``CELERY_*``)."""

import os

from celery import Celery

from attik import broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "attik.settings")

# filesystem:// (the embedded broker) publishes atomically: see attik/broker.py.
broker.register()

app = Celery("attik")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
