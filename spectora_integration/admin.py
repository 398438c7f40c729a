from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils.html import format_html

from spectora_integration.inbound import deliveries
from spectora_integration.models import (
    InboundWebhook,
    SpectoraConnection,
    SpectoraLink,
    SyncCall,
    SyncRun,
)
from spectora_integration.sync import runs
from workorders.admin_scoping import CompanyScopedAdmin, CompanyScopedInline
from workorders.permissions import RETRY_SYNCS, user_can


class ReadOnlyMixin:
    """Audit rows: visible, never edited by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SpectoraConnection)
class SpectoraConnectionAdmin(CompanyScopedAdmin):
    """Read-only: the connection changes only through the setup pages
    (``setup/services.py::connection_save``), which validate the address, ask for
    the key again for a new address and mark the connection untested. The
    encrypted secrets are never a field here; only the key's last four show."""

    list_display = ["company", "base_url", "state", "api_key_hint", "last_checked_at"]
    fields = [
        "company", "base_url", "state", "rate_limit_per_second", "api_key_hint",
        "webhook_secret_hint", "last_checked_at", "last_error", "drift_watermark",
        "change_where",
    ]
    readonly_fields = fields

    def get_fields(self, request, obj=None):
        if request.user.is_superuser:
            return list(self.fields)
        return [f for f in self.fields if f != "company"]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="API key")
    def api_key_hint(self, obj):
        return f"…{obj.api_key_last4}" if obj.api_key_last4 else "not set"

    @admin.display(description="Webhook secret")
    def webhook_secret_hint(self, obj):
        return "set" if obj.webhook_secret_encrypted else "not set"

    @admin.display(description="To change it")
    def change_where(self, obj):
        return format_html(
            'Use the <a href="{}">Spectora connection page</a> (signed in as an admin of '
            "the company).", reverse("spectora:connection"),
        )


@admin.register(SpectoraLink)
class SpectoraLinkAdmin(ReadOnlyMixin, CompanyScopedAdmin):
    company_path = "workorder__company"
    list_display = ["workorder", "remote_id", "sync_state", "last_synced_at", "last_error"]
    list_filter = ["sync_state"]
    search_fields = ["remote_id", "workorder__number"]
    list_select_related = ["workorder"]


class SyncCallInline(ReadOnlyMixin, CompanyScopedInline):
    model = SyncCall
    fields = ["attempt", "method", "path", "status", "duration_ms", "error", "at"]
    readonly_fields = fields
    can_delete = False


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyMixin, CompanyScopedAdmin):
    list_display = [
        "id", "workorder", "kind", "trigger", "state", "attempts", "reason", "created_at",
    ]
    list_filter = ["state", "kind", "trigger"]
    search_fields = ["workorder__number", "reason"]
    list_select_related = ["workorder"]
    inlines = [SyncCallInline]
    actions = ["retry_runs", "dismiss_runs"]

    @admin.action(description="Retry selected failed syncs")
    def retry_runs(self, request, queryset):
        if not user_can(request.user, RETRY_SYNCS) and not request.user.is_superuser:
            raise PermissionDenied
        count = runs.sync_retry(queryset, request.user)
        self.message_user(request, f"Queued {count} retr{'y' if count == 1 else 'ies'}.",
                          messages.SUCCESS)

    @admin.action(description="Dismiss selected failed syncs")
    def dismiss_runs(self, request, queryset):
        if not user_can(request.user, RETRY_SYNCS) and not request.user.is_superuser:
            raise PermissionDenied
        count = runs.sync_dismiss(queryset, request.user)
        self.message_user(request, f"Dismissed {count} failed sync(s).", messages.SUCCESS)


class ProcessedFilter(admin.SimpleListFilter):
    title = "processed"
    parameter_name = "processed"

    def lookups(self, request, model_admin):
        return [("yes", "Processed"), ("no", "Not processed"), ("failed", "With an error")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(processed_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(processed_at__isnull=True)
        if self.value() == "failed":
            return queryset.exclude(error="")
        return queryset


@admin.register(InboundWebhook)
class InboundWebhookAdmin(ReadOnlyMixin, CompanyScopedAdmin):
    company_path = "connection__company"
    list_display = ["webhook_id", "event_type", "inspection_id", "received_at", "processed_at",
                    "attempts", "error"]
    list_filter = [ProcessedFilter, "event_type"]
    search_fields = ["webhook_id", "inspection_id"]
    actions = ["reprocess"]

    @admin.action(description="Reprocess selected webhooks")
    def reprocess(self, request, queryset):
        if not user_can(request.user, RETRY_SYNCS) and not request.user.is_superuser:
            raise PermissionDenied
        count = deliveries.delivery_reprocess(queryset)
        self.message_user(request, f"Queued {count} webhook{'s' if count != 1 else ''} to "
                                   "process again.", messages.SUCCESS)
