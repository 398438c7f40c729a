from django.apps import AppConfig


class OperationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "operations"
    verbose_name = "Operations"

    def ready(self):
        from celery.signals import beat_init

        from operations import heartbeat

        # Only the beat process records that it enqueued the heartbeat.
        beat_init.connect(heartbeat.watch_beat_publishes, weak=False)
