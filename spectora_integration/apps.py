from django.apps import AppConfig


class SpectoraIntegrationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "spectora_integration"
    verbose_name = "Spectora"

    def ready(self):
        from spectora_integration.integration import SpectoraIntegration
        from workorders import integrations

        integrations.register(SpectoraIntegration())
