from django.contrib import admin

from workorders import integrations
from workorders.admin_scoping import CompanyScopedAdmin, CompanyScopedInline, admin_company
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


class AssignmentInline(CompanyScopedInline):
    model = Assignment


class LineItemInline(CompanyScopedInline):
    model = LineItem


@admin.register(Workorder)
class WorkorderAdmin(CompanyScopedAdmin):
    list_display = ["__str__", "scheduled_at", "status", "origin", "client_name", "address"]
    list_filter = ["status", "origin"]
    search_fields = ["number", "address", "client_name", "client_email"]
    date_hierarchy = "scheduled_at"
    readonly_fields = ["number", "version", "created_by", "created_at", "updated_at"]
    inlines = [AssignmentInline, LineItemInline]
    list_select_related = ["company"]
    def get_actions(self, request):
        """The office's own actions plus those its integrations add (e.g. Sync Spectora job)."""
        actions = super().get_actions(request)
        for action in integrations.admin_actions():
            name = action.__name__
            actions[name] = (action, name, action.short_description)
        return actions

    def save_model(self, request, obj, form, change):
        if not change and not obj.number:
            from workorders.services import _next_number

            obj.number = _next_number(admin_company_or(obj, request))
        if change:
            obj.version += 1
        super().save_model(request, obj, form, change)


def admin_company_or(obj, request):

    return admin_company(request) or obj.company


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
