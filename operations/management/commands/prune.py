from django.core.management.base import BaseCommand

from operations import retention


class Command(BaseCommand):
    help = "Delete sync calls, finished runs, webhooks and activity older than the retention."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")
        parser.add_argument("--batch-size", type=int, default=None,
                            help="Ids per delete statement (default ATTIK_PRUNE_BATCH_SIZE).")

    def handle(self, *args, dry_run=False, batch_size=None, **options):
        counts = retention.prune(dry_run=dry_run, batch=batch_size)
        verb = "Would delete" if dry_run else "Deleted"
        for name, count in counts.items():
            self.stdout.write(f"{verb} {count} {name.replace('_', ' ')}")
