from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from workorders import integrations, permissions, services
from workorders.admin_scoping import CompanyScopedAdmin, CompanyScopedInline, is_company_admin
from workorders.errors import ApplicationError
from workorders.forms import CancelForm
from workorders.models import (
    ActivityEvent,
    Assignment,
    Company,
    Employee,
    LineItem,
    Membership,
    ReportType,
    Service,
    Workorder,
)

admin.site.site_header = "Attik administration"
admin.site.site_title = "Attik admin"
admin.site.index_title = "Your company"


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    """Platform operators only: a company admin never lists other companies."""

    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(Membership)
class MembershipAdmin(CompanyScopedAdmin):
    list_display = ["user", "role", "company"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email"]

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def get_readonly_fields(self, request, obj=None):
        return [] if request.user.is_superuser else ["user"]


@admin.register(Employee)
class EmployeeAdmin(CompanyScopedAdmin):
    list_display = ["name", "email", "active", "spectora_inspector_id"]
    list_filter = ["active"]
    search_fields = ["name", "email"]


@admin.register(ReportType)
class ReportTypeAdmin(CompanyScopedAdmin):
    list_display = ["name", "spectora_template_id"]
    search_fields = ["name"]


@admin.register(Service)
class ServiceAdmin(CompanyScopedAdmin):
    list_display = ["name", "kind", "price_cents", "active", "spectora_service_id"]
    list_filter = ["kind", "active"]
    search_fields = ["name"]
    filter_horizontal = ["report_types"]


class ReadOnlyInline(CompanyScopedInline):
    """A workorder's children are shown, never edited here: the services replace them."""

    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AssignmentInline(ReadOnlyInline):
    model = Assignment
    fields = readonly_fields = ["employee", "primary"]


class LineItemInline(ReadOnlyInline):
    model = LineItem
    fields = readonly_fields = ["service", "price_cents", "quantity"]


@admin.register(Workorder)
class WorkorderAdmin(CompanyScopedAdmin):
    """Read-only: workorders are booked, edited and cancelled through ``services``.

    An admin write that skipped them saved values the services refuse, left no
    activity entry and never reached Spectora; a delete orphaned the Spectora job.
    So there is no add, change or delete here. The one write is the "Cancel
    workorder" action, through ``services.workorder_cancel``; integrations add theirs
    (e.g. "Sync Spectora job").
    """

    list_display = ["__str__", "scheduled_at", "status", "origin", "client_name", "address"]
    list_filter = ["status", "origin"]
    search_fields = ["number", "address", "client_name", "client_email"]
    date_hierarchy = "scheduled_at"
    inlines = [AssignmentInline, LineItemInline]
    list_select_related = ["company"]
    actions = ["cancel_workorders"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_cancel_permission(self, request):
        return request.user.is_superuser or (
            is_company_admin(request) and permissions.user_can(request.user, permissions.CANCEL)
        )

    def get_actions(self, request):
        """The office's own actions plus those its integrations add (e.g. Sync Spectora job)."""
        actions = super().get_actions(request)
        for action in integrations.admin_actions():
            name = action.__name__
            actions[name] = (action, name, action.short_description)
        return actions

    @admin.action(description="Cancel selected workorders", permissions=["cancel"])
    def cancel_workorders(self, request, queryset):
        """Ask for the reason first (an intermediate page), then cancel each through the
        service: activity entry, and a linked Spectora job cancelled through the queue."""
        if not self.has_cancel_permission(request):
            raise PermissionDenied
        form = CancelForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return TemplateResponse(
                request,
                "admin/workorders/workorder/cancel_selected.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Cancel workorders",
                    "opts": self.model._meta,
                    "form": form,
                    "workorders": queryset,
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                },
            )
        cancelled, refused = 0, []
        for workorder in queryset:
            if workorder.is_cancelled:
                continue
            try:
                services.workorder_cancel(
                    workorder, user=request.user, reason=form.cleaned_data["reason"]
                )
            except ApplicationError as error:
                refused.append(f"{workorder}: {error.message}")
            else:
                cancelled += 1
        if cancelled:
            self.message_user(request, f"Cancelled {cancelled} workorder(s).", messages.SUCCESS)
        for line in refused[:20]:
            self.message_user(request, f"Not cancelled, {line}", messages.WARNING)
        return None


@admin.register(ActivityEvent)
class ActivityEventAdmin(CompanyScopedAdmin):
    list_display = ["created_at", "workorder", "actor", "verb", "message"]
    list_filter = ["verb"]
    search_fields = ["message"]
    list_select_related = ["workorder", "actor"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the audit trail is kept
