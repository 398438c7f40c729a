"""Forms for the office pages: they turn posted text into service inputs.

The services decide what is allowed; these forms only check what a browser can
get wrong (a missing field, a bad number) and carry the services' refusals back
to the right field.
"""

from __future__ import annotations

import secrets
from decimal import Decimal

from django import forms
from django.forms.formsets import BaseFormSet, formset_factory

from workorders.errors import ApplicationError, ValidationFailed
from workorders.models import Workorder
from workorders.services import (
    ADDRESS_MAX_LENGTH,
    ASSIGNEES_MAX,
    CANCEL_REASON_MAX_LENGTH,
    CLIENT_EMAIL_MAX_LENGTH,
    CLIENT_NAME_MAX_LENGTH,
    DURATION_MAX,
    DURATION_MIN,
    LINE_ITEMS_MAX,
    NOTES_MAX_LENGTH,
    PRICE_CENTS_MAX,
    QUANTITY_MAX,
    QUANTITY_MIN,
    SCALAR_FIELDS,
    AssigneeInput,
    LineItemInput,
)

DATETIME_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
DEFAULT_DURATION = 120


def new_form_token() -> str:
    """A random token the create form carries, so a double submit books one workorder."""
    return secrets.token_urlsafe(24)


def cents_to_decimal(cents: int) -> Decimal:
    """``45000`` to ``Decimal("450.00")``."""
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def dollars(cents: int | None) -> str:
    """``45000`` to ``"$450.00"``."""
    if cents is None:
        return ""
    return f"${cents_to_decimal(cents):,}"


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format=DATETIME_LOCAL_FORMAT)


def scheduled_at_field() -> forms.DateTimeField:
    """Date and time as the browser's datetime-local sends it, read in the site time zone."""
    return forms.DateTimeField(
        label="Date and time",
        widget=DateTimeLocalInput(),
        input_formats=[DATETIME_LOCAL_FORMAT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        error_messages={
            "required": "Enter the date and time of the inspection.",
            "invalid": "Enter a date and time, for example 2025-05-14 09:30.",
        },
    )


def duration_field() -> forms.IntegerField:
    return forms.IntegerField(
        label="Duration (minutes)",
        min_value=DURATION_MIN,
        max_value=DURATION_MAX,
        initial=DEFAULT_DURATION,
        widget=forms.NumberInput(attrs={"step": 15}),
        error_messages={
            "required": "Enter how long the inspection takes, in minutes.",
            "invalid": "Enter the duration as a whole number of minutes.",
            "min_value": f"Duration must be at least {DURATION_MIN} minutes.",
            "max_value": (
                f"Duration must be at most {DURATION_MAX // 60} hours ({DURATION_MAX} minutes)."
            ),
        },
    )


class ObjectChoiceField(forms.ChoiceField):
    """A select over objects already loaded (one query for all rows); cleans to the object."""

    def __init__(self, *, objects, empty_label: str, label_for=str, **kwargs):
        self.objects = {str(obj.pk): obj for obj in objects}
        choices = [("", empty_label)] + [(str(obj.pk), label_for(obj)) for obj in objects]
        super().__init__(choices=choices, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        return self.objects.get(value) if value else None


class PricedSelect(forms.Select):
    """A service select whose options carry ``data-price`` (dollars) for the price prefill."""

    def __init__(self, *args, prices: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.prices = prices or {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        price = self.prices.get(str(value))
        if price is not None:
            option["attrs"]["data-price"] = price
        return option


class _Catalogue:
    """The company's employees and services, loaded once and shared by every row."""

    def __init__(self, employees, services):
        self.employees = list(employees)
        self.services = list(services)


# -- The workorder form ---------------------------------------------------------------------


class WorkorderForm(forms.Form):
    scheduled_at = scheduled_at_field()
    duration_minutes = duration_field()
    address = forms.CharField(
        label="Property address",
        max_length=ADDRESS_MAX_LENGTH,
        error_messages={"required": "Enter the property address."},
    )
    client_name = forms.CharField(
        label="Client name",
        max_length=CLIENT_NAME_MAX_LENGTH,
        error_messages={"required": "Enter the client's name."},
    )
    client_email = forms.EmailField(
        label="Client email",
        required=False,
        max_length=CLIENT_EMAIL_MAX_LENGTH,
        error_messages={"invalid": "Enter an email address like name@example.com."},
    )
    notes = forms.CharField(
        label="Notes",
        required=False,
        max_length=NOTES_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_address(self) -> str:
        value = self.cleaned_data["address"].strip()
        if not value:
            raise forms.ValidationError("Enter the property address.")
        return value

    def clean_client_name(self) -> str:
        value = self.cleaned_data["client_name"].strip()
        if not value:
            raise forms.ValidationError("Enter the client's name.")
        return value

    def values(self) -> dict:
        return {key: self.cleaned_data[key] for key in SCALAR_FIELDS}


class WorkorderCreateForm(WorkorderForm):
    form_token = forms.CharField(widget=forms.HiddenInput, max_length=64)


class WorkorderEditForm(WorkorderForm):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def clean_scheduled_at(self):
        return keep_unchanged_time(self)


def keep_unchanged_time(form: forms.Form):
    """The browser sends minutes only: an untouched time keeps its stored seconds."""
    value = form.cleaned_data["scheduled_at"]
    initial = form.initial.get("scheduled_at")
    if value and initial and value == initial.replace(second=0, microsecond=0):
        return initial
    return value


def workorder_initial(workorder: Workorder) -> dict:
    initial = {key: getattr(workorder, key) for key in SCALAR_FIELDS}
    initial["version"] = workorder.version
    return initial


# -- Assignee and line item rows -----------------------------------------------------------


class RowFormSet(BaseFormSet):
    """Rows of a workorder form. Blank rows are ignored; services' refusals land on top."""

    def __init__(self, *args, catalogue: _Catalogue, **kwargs):
        self.catalogue = catalogue
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {"catalogue": self.catalogue}

    def add_error(self, messages: list[str]) -> None:
        self.non_form_errors()
        self._non_form_errors.extend(messages)

    def filled_forms(self):
        return [
            form
            for form in self.forms
            if form.is_valid() and form.cleaned_data.get(self.key_field) is not None
        ]


class AssigneeForm(forms.Form):
    employee = forms.ChoiceField(required=False)

    def __init__(self, *args, catalogue: _Catalogue, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["employee"] = ObjectChoiceField(
            objects=catalogue.employees,
            empty_label="Choose an inspector",
            label_for=lambda e: e.name if e.active else f"{e.name} (inactive)",
            label="Inspector",
            required=False,
        )


class BaseAssigneeFormSet(RowFormSet):
    """Inspector rows; one radio across rows (``<prefix>-primary``, value: row index) marks
    the primary inspector."""

    key_field = "employee"

    def __init__(self, *args, primary_index: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.primary_name = f"{self.prefix}-primary"
        if self.is_bound:
            self.primary_value = self.data.get(self.primary_name, "")
        else:
            self.primary_value = "" if primary_index is None else str(primary_index)
        for index, form in enumerate(self.forms):
            form.row_index = index
            form.is_primary = str(index) == self.primary_value

    @property
    def empty_form(self):
        form = super().empty_form
        form.row_index = "__prefix__"
        form.is_primary = False
        return form

    def clean(self):
        seen = set()
        for form in self.filled_forms():
            employee = form.cleaned_data["employee"]
            if employee.pk in seen:
                raise forms.ValidationError(
                    f"{employee.name} is listed twice. Keep one row per inspector."
                )
            seen.add(employee.pk)

    def inputs(self) -> list[AssigneeInput]:
        return [
            AssigneeInput(form.cleaned_data["employee"], str(form.row_index) == self.primary_value)
            for form in self.filled_forms()
        ]


class LineItemForm(forms.Form):
    service = forms.ChoiceField(required=False)
    price = forms.DecimalField(
        label="Price ($)",
        required=False,
        min_value=0,
        max_value=cents_to_decimal(PRICE_CENTS_MAX),
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "placeholder": "auto"}),
        error_messages={
            "invalid": "Enter the price in dollars, for example 450 or 450.00.",
            "min_value": "The price cannot be negative.",
            "max_decimal_places": "Enter the price to the cent at most (two decimals).",
            "max_value": f"The price must be at most {dollars(PRICE_CENTS_MAX)}.",
        },
    )
    quantity = forms.IntegerField(
        label="Quantity",
        required=False,
        min_value=QUANTITY_MIN,
        max_value=QUANTITY_MAX,
        initial=1,
        error_messages={
            "invalid": "Enter the quantity as a whole number.",
            "min_value": f"Quantity must be at least {QUANTITY_MIN}.",
            "max_value": f"Quantity must be at most {QUANTITY_MAX}.",
        },
    )

    # The service whose catalogue price the price box holds: the line's own service when its
    # price is that service's, or the one the page filled in on picking (attik.js); blank once
    # a person types a price. A price is the person's only if they typed it.
    price_from = forms.CharField(required=False, max_length=20, widget=forms.HiddenInput)

    def __init__(self, *args, catalogue: _Catalogue, **kwargs):
        super().__init__(*args, **kwargs)
        prices = {str(s.pk): str(cents_to_decimal(s.price_cents)) for s in catalogue.services}
        self.fields["service"] = ObjectChoiceField(
            objects=catalogue.services,
            empty_label="Choose a service",
            label_for=_service_label,
            label="Service",
            required=False,
            widget=PricedSelect(prices=prices),
        )

    def clean(self):
        data = super().clean()
        if data.get("service") is None and data.get("price") is not None:
            self.add_error("service", "Choose a service for this price, or clear the price.")
        elif self._price_belongs_to_another_service(data):
            data["price"] = None  # the service's own price (the services fill it in)
        return data

    def _price_belongs_to_another_service(self, data) -> bool:
        """The price is the catalogue price of a service other than the one chosen, and nobody
        typed it: the service was changed and the old one's price stayed in the box (the page
        without its script, or a post from something else).

        Where the price came from is ``price_from`` when posted; otherwise, for a line that
        already existed, the line's service before this edit.
        """
        service, price = data.get("service"), data.get("price")
        if service is None or price is None:
            return False
        objects = self.fields["service"].objects
        if self.add_prefix("price_from") in self.data:
            source = objects.get(data.get("price_from") or "")
        else:
            source = objects.get(str(self.initial.get("service") or ""))
        return (
            source is not None
            and source.pk != service.pk
            and price == cents_to_decimal(source.price_cents)
        )

    def to_input(self) -> LineItemInput:
        price = self.cleaned_data.get("price")
        return LineItemInput(
            service=self.cleaned_data["service"],
            price_cents=None if price is None else int((price * 100).to_integral_value()),
            quantity=self.cleaned_data.get("quantity") or 1,
        )


def _service_label(service) -> str:
    kind = " (add-on)" if service.kind == "add_on" else ""
    inactive = " (inactive)" if not service.active else ""
    return f"{service.name}{kind}{inactive} · {dollars(service.price_cents)}"


class BaseLineItemFormSet(RowFormSet):
    key_field = "service"

    def inputs(self) -> list[LineItemInput]:
        return [form.to_input() for form in self.filled_forms()]


def _formset(base, form, extra: int, max_num: int):
    """Rows up to ``max_num`` are shown; the service refuses more filled rows than that
    (blank and removed rows do not count)."""
    return formset_factory(form, formset=base, extra=extra, max_num=max_num)


# -- The whole workorder page: form plus rows ----------------------------------------------


class WorkorderFormGroup:
    """The workorder form with its inspector and service rows, validated and saved together.

    ``create`` carries a ``form_token``; ``edit`` carries the ``version`` it was opened at.
    """

    def __init__(
        self,
        *,
        employees,
        services,
        data=None,
        workorder: Workorder | None = None,
    ):
        self.workorder = workorder
        assignments = list(workorder.assignments.all()) if workorder else []
        line_items = list(workorder.line_items.all()) if workorder else []
        catalogue = _Catalogue(
            _with_current(employees, [a.employee for a in assignments]),
            _with_current(services, [li.service for li in line_items]),
        )
        if workorder is None:
            initial = {"form_token": new_form_token(), "duration_minutes": DEFAULT_DURATION}
            self.form = WorkorderCreateForm(data, initial=initial)
        else:
            self.form = WorkorderEditForm(data, initial=workorder_initial(workorder))

        assignee_formset = _formset(
            BaseAssigneeFormSet, AssigneeForm, 1 if assignments else 2, ASSIGNEES_MAX
        )
        primary_index = next((i for i, a in enumerate(assignments) if a.primary), None)
        self.assignees = assignee_formset(
            data,
            prefix="assignees",
            catalogue=catalogue,
            primary_index=primary_index,
            initial=[{"employee": str(a.employee_id)} for a in assignments],
        )
        line_item_formset = _formset(
            BaseLineItemFormSet, LineItemForm, 1 if line_items else 2, LINE_ITEMS_MAX
        )
        self.line_items = line_item_formset(
            data,
            prefix="line_items",
            catalogue=catalogue,
            initial=[
                {
                    "service": str(li.service_id),
                    "price": cents_to_decimal(li.price_cents),
                    "quantity": li.quantity,
                    "price_from": (
                        str(li.service_id) if li.price_cents == li.service.price_cents else ""
                    ),
                }
                for li in line_items
            ],
        )
        self.catalogue = catalogue

    def is_valid(self) -> bool:
        results = [self.form.is_valid(), self.assignees.is_valid(), self.line_items.is_valid()]
        return all(results)

    @property
    def has_errors(self) -> bool:
        return bool(
            self.form.errors
            or self.assignees.total_error_count()
            or self.line_items.total_error_count()
        )

    def values(self) -> dict:
        return self.form.values()

    def assignee_inputs(self) -> list[AssigneeInput]:
        return self.assignees.inputs()

    def line_item_inputs(self) -> list[LineItemInput]:
        return self.line_items.inputs()

    def add_service_error(self, error: ApplicationError) -> None:
        """Put a service's refusal where the person will look for it."""
        rows = {"assignees": self.assignees, "line_items": self.line_items}
        apply_service_error(self.form, error, rows=rows)


def _with_current(available, current) -> list:
    """The company's active catalogue plus anything the workorder already uses."""
    objects = [obj for obj in available if getattr(obj, "active", True)]
    known = {obj.pk for obj in objects}
    for obj in current:
        if obj.pk not in known:
            objects.append(obj)
            known.add(obj.pk)
    return objects


def apply_service_error(form: forms.Form, error: ApplicationError, *, rows=None) -> None:
    """Map ``ValidationFailed.fields`` onto fields (or row sets); anything else is a
    non-field error with the service's message."""
    rows = rows or {}
    if isinstance(error, ValidationFailed) and error.fields:
        for key, messages in error.fields.items():
            messages = [messages] if isinstance(messages, str) else list(messages)
            if key in rows:
                rows[key].add_error(messages)
            else:
                for message in messages:
                    form.add_error(key if key in form.fields else None, message)
        return
    form.add_error(None, error.message)


# -- Smaller forms -------------------------------------------------------------------------


class RescheduleForm(forms.Form):
    scheduled_at = scheduled_at_field()
    duration_minutes = duration_field()
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def clean_scheduled_at(self):
        return keep_unchanged_time(self)


class CancelForm(forms.Form):
    reason = forms.CharField(
        label="Why is it cancelled?",
        max_length=CANCEL_REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={
            "required": "Enter a reason; it is kept on the workorder.",
            "max_length": f"Keep the reason to {CANCEL_REASON_MAX_LENGTH} characters.",
        },
    )

    def clean_reason(self) -> str:
        value = self.cleaned_data["reason"].strip()
        if not value:
            raise forms.ValidationError("Enter a reason; it is kept on the workorder.")
        return value
