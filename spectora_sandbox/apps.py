from django.apps import AppConfig


class SpectoraSandboxConfig(AppConfig):
    """Installed only when ATTIK_SANDBOX_APP is true (the demo), for its management command."""

    name = "spectora_sandbox"
    verbose_name = "Spectora sandbox"
