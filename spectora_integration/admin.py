from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied

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
    list_display = ["company", "base_url", "state", "api_key_hint", "last_checked_at"]
    readonly_fields = ["api_key_hint", "last_checked_at", "last_error", "drift_watermark"]
    fields = ["base_url", "state", "rate_limit_per_second", *readonly_fields]

    @admin.display(description="API key")
    def api_key_hint(self, obj):
        return f"…{obj.api_key_last4}" if obj.api_key_last4 else "not set"

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if request.user.is_superuser and "company" not in fields:
            fields.insert(0, "company")
        return fields


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
