"""Forms of the Spectora setup pages. Choices come from Spectora; rows from the company only."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from django import forms
from django.core.exceptions import ValidationError

from spectora_integration.client import Resource
from spectora_integration.client.addresses import EXAMPLE, validate_base_url
from spectora_integration.models import SpectoraConnection
from spectora_integration.setup.services import MAX_RATE_LIMIT
from workorders.errors import ValidationFailed
from workorders.models import Employee, ReportType, Service, ServiceKind

NOT_MAPPED = ""
WEBHOOK_SECRET_PREFIX = "whsec_"


def _secret_input() -> forms.PasswordInput:
    # render_value=False: a saved secret is never written back into the page.
    return forms.PasswordInput(
        render_value=False, attrs={"autocomplete": "new-password", "spellcheck": "false"}
    )


class ConnectionForm(forms.Form):
    base_url = forms.CharField(
        label="Spectora address",
        max_length=200,
        initial=EXAMPLE,
        help_text=f"Usually {EXAMPLE}.",
        widget=forms.TextInput(attrs={"inputmode": "url", "spellcheck": "false"}),
    )
    api_key = forms.CharField(
        label="API key", required=False, max_length=500, widget=_secret_input(),
        help_text="In Spectora under Settings > API.",
    )
    webhook_secret = forms.CharField(
        label="Webhook signing secret", required=False, max_length=500, widget=_secret_input(),
        help_text="Starts with whsec_. Spectora shows it when you add the webhook address below.",
    )
    rate_limit_per_second = forms.IntegerField(
        label="Calls per second", required=False, min_value=1, max_value=MAX_RATE_LIMIT,
        help_text="How fast Attik may call Spectora, across all its workers.",
    )

    def __init__(self, *args, connection: SpectoraConnection | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.connection = connection
        has_key = bool(connection and connection.api_key_encrypted)
        has_secret = bool(connection and connection.webhook_secret_encrypted)
        if connection is not None:
            self.fields["base_url"].initial = connection.base_url
            self.fields["rate_limit_per_second"].initial = connection.rate_limit_per_second
        else:
            self.fields["rate_limit_per_second"].initial = 10
        if has_key:
            self.fields["api_key"].help_text = (
                "Leave empty to keep the saved key. Type a new one to replace it; you also "
                "need to type it again when you change the address."
            )
        if has_secret:
            self.fields["webhook_secret"].help_text = (
                "Leave empty to keep the saved secret. A new one replaces it; the old one keeps "
                "working for a while so no delivery is lost."
            )

    def clean_base_url(self) -> str:
        return validate_base_url(self.cleaned_data["base_url"])

    def clean_api_key(self) -> str:
        value = self.cleaned_data["api_key"]
        if value and any(ch.isspace() for ch in value):
            raise ValidationError("An API key has no spaces in it. Copy it again from Spectora.")
        return value

    def clean_webhook_secret(self) -> str:
        value = self.cleaned_data["webhook_secret"]
        if not value:
            return value
        encoded = value[len(WEBHOOK_SECRET_PREFIX):]
        try:
            valid = value.startswith(WEBHOOK_SECRET_PREFIX) and base64.b64decode(
                encoded, validate=True
            )
        except (binascii.Error, ValueError):
            valid = False
        if not valid:
            raise ValidationError(
                "That does not look like a webhook secret. Copy the whole secret from Spectora; "
                "it starts with whsec_."
            )
        return value

    def apply_service_error(self, error: ValidationFailed) -> None:
        if not error.fields:
            self.add_error(None, error.message)
        for name, messages in error.fields.items():
            self.add_error(name if name in self.fields else None, messages)


# ---------------------------------------------------------------- staff


def inspector_label(inspector: Resource) -> str:
    name = inspector["name"] or inspector.id
    return f"{name} ({inspector['email']})" if inspector["email"] else str(name)


class InspectorForm(forms.Form):
    """Names one of Spectora's inspectors, as Spectora lists them now."""

    inspector_id = forms.ChoiceField(label="Spectora inspector")

    def __init__(self, *args, inspectors: Iterable[Resource], **kwargs):
        super().__init__(*args, **kwargs)
        self.inspectors = {i.id: i for i in inspectors}
        self.fields["inspector_id"].choices = [
            (i.id, inspector_label(i)) for i in self.inspectors.values()
        ]
        self.fields["inspector_id"].error_messages["invalid_choice"] = (
            "Spectora does not list that inspector (any more). Reload the page."
        )

    @property
    def inspector(self) -> Resource:
        return self.inspectors[self.cleaned_data["inspector_id"]]


class StaffLinkForm(InspectorForm):
    employee = forms.ModelChoiceField(
        label="Attik employee", queryset=Employee.objects.none(),
        error_messages={
            "invalid_choice": "Choose one of your company's employees who is not linked yet.",
            "required": "Choose the Attik employee to link.",
        },
    )

    def __init__(self, *args, company, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["employee"].queryset = unlinked_employees(company)


def unlinked_employees(company):
    return Employee.objects.filter(company=company, spectora_inspector_id__isnull=True)


# ---------------------------------------------------------------- services


def _money(cents) -> str:
    try:
        return f"${int(cents) / 100:,.2f}"
    except (TypeError, ValueError):
        return ""


def spectora_service_label(service: Resource) -> str:
    kind = {ServiceKind.PRIMARY: "primary", ServiceKind.ADD_ON: "add-on"}.get(service["kind"], "")
    details = ", ".join(p for p in (kind, _money(service["price_cents"])) if p)
    label = f"{service['name'] or service.id}"
    if details:
        label += f" ({details})"
    if service["active"] is False:
        label += ", inactive"
    return label


def _choices(resources: Iterable[Resource], label, current: str | None) -> list[tuple[str, str]]:
    choices = [(NOT_MAPPED, "Not mapped")]
    choices += [(r.id, label(r)) for r in resources]
    if current and current not in {value for value, _ in choices}:
        choices.append((current, f"{current} (Spectora no longer lists it)"))
    return choices


@dataclass(frozen=True)
class MappingRow:
    """A service or report type, its select, and whether its saved id is one Spectora lists."""

    obj: Service | ReportType
    field: forms.BoundField
    mapped_id: str | None
    found: bool


class MappingForm(forms.Form):
    """A select per service and per report type. A select missing from the POST changes nothing."""

    def __init__(
        self,
        *args,
        services: Iterable[Service],
        report_types: Iterable[ReportType],
        spectora_services: list[Resource],
        templates: list[Resource],
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.services = list(services)
        self.report_types = list(report_types)
        self.spectora_services = {s.id: s for s in spectora_services}
        self.templates = {t.id: t for t in templates}
        for service in self.services:
            self.fields[self.service_field(service)] = forms.ChoiceField(
                label=f"Spectora service for {service.name}", required=False,
                choices=_choices(spectora_services, spectora_service_label,
                                 service.spectora_service_id),
                initial=service.spectora_service_id or NOT_MAPPED,
            )
        for report_type in self.report_types:
            self.fields[self.report_type_field(report_type)] = forms.ChoiceField(
                label=f"Spectora template for {report_type.name}", required=False,
                choices=_choices(templates, lambda t: str(t["name"] or t.id),
                                 report_type.spectora_template_id),
                initial=report_type.spectora_template_id or NOT_MAPPED,
            )

    @staticmethod
    def service_field(service: Service) -> str:
        return f"service_{service.pk}"

    @staticmethod
    def report_type_field(report_type: ReportType) -> str:
        return f"report_type_{report_type.pk}"

    def service_rows(self) -> list[MappingRow]:
        return [
            MappingRow(s, self[self.service_field(s)], s.spectora_service_id,
                       s.spectora_service_id in self.spectora_services)
            for s in self.services
        ]

    def report_type_rows(self) -> list[MappingRow]:
        return [
            MappingRow(rt, self[self.report_type_field(rt)], rt.spectora_template_id,
                       rt.spectora_template_id in self.templates)
            for rt in self.report_types
        ]

    def _submitted(self, objects, field_name) -> dict[int, str | None]:
        return {
            obj.pk: (self.cleaned_data[field_name(obj)] or None)
            for obj in objects
            if field_name(obj) in self.data
        }

    def service_values(self) -> dict[int, str | None]:
        return self._submitted(self.services, self.service_field)

    def report_type_values(self) -> dict[int, str | None]:
        return self._submitted(self.report_types, self.report_type_field)
