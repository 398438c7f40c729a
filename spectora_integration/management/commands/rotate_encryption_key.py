"""Re-encrypt every stored Spectora secret with the first ATTIK_ENCRYPTION_KEY."""

from django.core.management.base import BaseCommand, CommandError

from spectora_integration.setup.services import secrets_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt the Spectora API keys and webhook secrets with the first key of "
        "ATTIK_ENCRYPTION_KEY. Rotation: put the new key first (new,old), run this, then "
        "remove the old key."
    )

    def handle(self, *args, **options):
        result = secrets_rotate()
        self.stdout.write(f"Re-encrypted {result.rotated} secret(s) with the first key.")
        if result.unreadable:
            raise CommandError(
                f"{len(result.unreadable)} secret(s) could not be decrypted and were left as "
                "they are:\n" + "\n".join(result.unreadable)
            )
