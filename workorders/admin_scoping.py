"""Django admin scoped to the signed-in user's company.

Superusers (platform operators) see everything. Everyone else needs the company
role ``admin`` and sees, picks and saves only their own company's rows; model
permissions come from the role, not from Django's per-user permission table.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from workorders import permissions


def admin_company(request):
    if request.user.is_superuser:
        return None
    return permissions.company_of(request.user)


def is_company_admin(request) -> bool:
    return request.user.is_active and permissions.user_can(request.user, permissions.ADMIN_SITE)


class BoundedChangeList(ChangeList):
    """A date-hierarchy link past year 9999 (``?scheduled_at__year=9999``) is a bad lookup
    (the admin redirects with ``?e=1``), not an overflow answering 500."""

    def get_filters(self, request):
        try:
            return super().get_filters(request)
        except (ValueError, OverflowError) as error:
            raise IncorrectLookupParameters(error) from error


def company_scoped_form(form_class, company):
    """``form_class`` validating as if ``company`` were one of its fields.

    The company admin never sees the company field (it is filled in for them), and Django
    skips every unique check and constraint that involves a field the form lacks: a
    duplicate then reached the database and answered 500. Here the company is set before
    validation and its checks run; their errors show on top of the form.
    """

    class CompanyScopedForm(form_class):
        def _post_clean(self):
            if self.instance.company_id is None:
                self.instance.company = company
            super()._post_clean()

        def _get_validation_exclusions(self):
            exclusions = super()._get_validation_exclusions()
            exclusions.discard("company")
            return exclusions

        def _update_errors(self, errors):
            if hasattr(errors, "error_dict") and "company" in errors.error_dict:
                error_dict = dict(errors.error_dict)
                moved = error_dict.pop("company")
                error_dict[NON_FIELD_ERRORS] = [*error_dict.get(NON_FIELD_ERRORS, []), *moved]
                errors = ValidationError(error_dict)
            super()._update_errors(errors)

    CompanyScopedForm.__name__ = form_class.__name__
    return CompanyScopedForm


class CompanyScopedAdmin(admin.ModelAdmin):
    """For models with a ``company`` field; ``company_path`` for rows owned through a parent."""

    company_path = "company"
    list_per_page = 50

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        company = admin_company(request)
        if company is None:
            return qs.none()
        return qs.filter(**{self.company_path: company})

    def _allowed(self, request) -> bool:
        return request.user.is_superuser or is_company_admin(request)

    def has_module_permission(self, request):
        return self._allowed(request)

    def has_view_permission(self, request, obj=None):
        return self._allowed(request)

    def has_add_permission(self, request):
        return self._allowed(request)

    def has_change_permission(self, request, obj=None):
        return self._allowed(request)

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request)

    def get_exclude(self, request, obj=None):
        excluded = list(super().get_exclude(request, obj) or [])
        if not request.user.is_superuser and self.company_path == "company":
            excluded.append("company")
        return excluded

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if request.user.is_superuser or self.company_path != "company":
            return form
        return company_scoped_form(form, admin_company(request))

    def get_changelist(self, request, **kwargs):
        return BoundedChangeList

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser and self.company_path == "company" and not change:
            obj.company = admin_company(request)
        super().save_model(request, obj, form, change)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        self._scope_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        self._scope_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _scope_choices(self, db_field, request, kwargs) -> None:
        if request.user.is_superuser:
            return
        related = db_field.related_model
        company = admin_company(request)
        field_names = {f.name for f in related._meta.get_fields()}
        if "company" in field_names:
            kwargs["queryset"] = related._default_manager.filter(company=company)
        elif related._meta.model_name == "user":
            kwargs["queryset"] = related._default_manager.filter(membership__company=company)


class CompanyScopedInline(admin.TabularInline):
    extra = 0

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if not request.user.is_superuser:
            related = db_field.related_model
            if "company" in {f.name for f in related._meta.get_fields()}:
                kwargs["queryset"] = related._default_manager.filter(
                    company=admin_company(request)
                )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _allowed(self, request) -> bool:
        return request.user.is_superuser or is_company_admin(request)

    def has_view_permission(self, request, obj=None):
        return self._allowed(request)

    def has_add_permission(self, request, obj=None):
        return self._allowed(request)

    def has_change_permission(self, request, obj=None):
        return self._allowed(request)

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request)
