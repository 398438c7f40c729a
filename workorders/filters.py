"""The workorder list's filters: one FilterSet for the office page and the API.

Both read the same parameters with the same rules: ``search``, ``status``,
``origin``, ``date_from``, ``date_to``, ``inspector``, ``ordering``, plus the
filters integrations offer (``Integration.list_filters``). The page reports an
invalid value next to its field and filters by the valid ones; the API answers
400 naming the field (django-filter's DRF backend). Every value is checked
before it reaches the database: ids against the company's employees, dates
within a range the database and the day arithmetic can hold.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date

import django_filters
from django import forms
from django.core.exceptions import ImproperlyConfigured
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Case, F, IntegerField, Value, When
from django.db.models.functions import Lower
from django.http import QueryDict

from workorders import integrations, permissions, selectors
from workorders.models import Origin, Workorder, WorkorderStatus

# Old links to the list page used ``q`` for the search.
PAGE_ALIASES = {"q": "search"}

FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2999, 12, 31)
DATE_RANGE_MESSAGE = (
    f"Enter a date between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}."
)
DATE_TO_BEFORE_FROM = "The end date is before the start date."


def _date_filter(label: str, method: str) -> django_filters.DateFilter:
    return django_filters.DateFilter(
        label=label,
        method=method,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter a date like 2025-05-14."},
        validators=[
            MinValueValidator(FIRST_DAY, message=DATE_RANGE_MESSAGE),
            MaxValueValidator(LAST_DAY, message=DATE_RANGE_MESSAGE),
        ],
    )


# -- Ordering -------------------------------------------------------------------------------

# Parameter -> what it sorts by, ascending. Status sorts in its lifecycle order.
_STATUS_RANK = Case(
    *(When(status=value, then=Value(rank)) for rank, value in enumerate(WorkorderStatus.values)),
    output_field=IntegerField(),
)
SORTS = {
    "when": (F("scheduled_at"),),
    "number": (F("number"),),
    "client": (Lower("client_name"),),
    "state": (_STATUS_RANK,),
}
SORT_LABELS = {"when": "Scheduled", "number": "Number", "client": "Client", "state": "Status"}
DEFAULT_ORDERING = "-when"  # newest first, as the selector orders
_TIEBREAK = ("when", "number")  # newest first among equals, so pages never overlap


class WorkorderOrdering(django_filters.OrderingFilter):
    """``ordering=client`` or ``-client`` (descending), several comma-separated."""

    def __init__(self, **kwargs):
        super().__init__(
            fields=[(param, param) for param in SORTS],
            field_labels=SORT_LABELS,
            **kwargs,
        )

    def filter(self, qs, value):
        if not value:
            return qs
        params = [param for param in value if param]
        used = {param.lstrip("-") for param in params}
        params += [f"-{key}" for key in _TIEBREAK if key not in used]
        order = []
        for param in params:
            descending = param.startswith("-")
            for expression in SORTS[param.lstrip("-")]:
                order.append(expression.desc() if descending else expression.asc())
        return qs.order_by(*order)


@dataclass(frozen=True)
class SortColumn:
    """A sortable column header: its aria-sort and the ordering its link asks for."""

    key: str
    label: str
    aria_sort: str  # "ascending", "descending" or "" (not sorted by this column)
    next_ordering: str


# -- The FilterSet --------------------------------------------------------------------------


class WorkorderFilterForm(forms.Form):
    """Checks across fields; the FilterSet adds one field per filter."""

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", DATE_TO_BEFORE_FROM)
        return data


class WorkorderFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(
        label="Search",
        method="filter_search",
        max_length=200,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": "1042, address, client, email, inspector or service",
            }
        ),
    )
    status = django_filters.ChoiceFilter(
        label="Status", choices=WorkorderStatus.choices, empty_label="Any status"
    )
    origin = django_filters.ChoiceFilter(
        label="Origin", choices=Origin.choices, empty_label="Any origin"
    )
    date_from = _date_filter("From", "filter_date_from")
    date_to = _date_filter("To", "filter_date_to")
    # Choices: the company's employees, set per instance (an unknown id is a field error
    # and never reaches the database).
    inspector = django_filters.ChoiceFilter(
        label="Inspector",
        method="filter_inspector",
        choices=(),
        empty_label="Any inspector",
        error_messages={"invalid_choice": "Choose one of your company's inspectors."},
    )
    ordering = WorkorderOrdering(label="Sort by")

    class Meta:
        model = Workorder
        fields: list[str] = []
        form = WorkorderFilterForm

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None, company=None):
        super().__init__(data, queryset, request=request, prefix=prefix)
        if company is None:
            company = permissions.company_of(request.user)
        self.company = company
        inspector = self.filters["inspector"]
        inspector.extra["choices"] = _LazyChoices(self._inspector_choices)
        inspector.__dict__.pop("_field", None)  # a field built before holds no choices

    @functools.cached_property
    def employees(self) -> list:
        return list(selectors.employee_list(self.company))

    def _inspector_choices(self) -> list[tuple[str, str]]:
        return [(str(employee.pk), employee.name) for employee in self.employees]

    # -- filtering

    def filter_search(self, queryset, name, value):
        condition = selectors.search_condition(value, self.company)
        return queryset if condition is None else queryset.filter(condition)

    def filter_date_from(self, queryset, name, value):
        return queryset.filter(selectors.scheduled_from(value))

    def filter_date_to(self, queryset, name, value):
        return queryset.filter(selectors.scheduled_until(value))

    def filter_inspector(self, queryset, name, value: str):
        return queryset.filter(selectors.assigned_to(int(value)))

    # -- what the page shows

    @property
    def is_filtered(self) -> bool:
        """A valid filter (not the ordering) narrows the list."""
        if not self.is_bound:
            return False
        self.form.is_valid()
        return any(
            value not in (None, "", [], ())
            for name, value in self.form.cleaned_data.items()
            if name != "ordering"
        )

    @property
    def current_ordering(self) -> str:
        """The valid ordering asked for (``""`` when none: the default applies)."""
        if not self.is_bound:
            return ""
        self.form.is_valid()
        return ",".join(self.form.cleaned_data.get("ordering") or [])

    def sort_columns(self) -> dict[str, SortColumn]:
        """Each sortable column's header: sorted by the first ordering parameter."""
        current = (self.current_ordering or DEFAULT_ORDERING).split(",")[0]
        columns = {}
        for key, label in SORT_LABELS.items():
            if current == key:
                aria_sort, next_ordering = "ascending", f"-{key}"
            elif current == f"-{key}":
                aria_sort, next_ordering = "descending", key
            else:
                aria_sort, next_ordering = "", key
            columns[key] = SortColumn(key, label, aria_sort, next_ordering)
        return columns


class _LazyChoices:
    """Choices computed on first use (and then kept): a request that does not use the
    filter does not load them. Copied as is with the form's fields."""

    def __init__(self, load):
        self.load = load
        self._choices = None

    def __iter__(self):
        if self._choices is None:
            self._choices = list(self.load())
        return iter(self._choices)

    def __len__(self):
        return len(list(iter(self)))

    def __deepcopy__(self, memo):
        return self


def workorder_filterset() -> type[WorkorderFilter]:
    """The FilterSet with the filters of every integration that joined."""
    return _with_integration_filters(tuple(integrations.integrations()))


@functools.lru_cache(maxsize=8)
def _with_integration_filters(joined: tuple) -> type[WorkorderFilter]:
    extra = integrations.list_filters()
    if not extra:
        return WorkorderFilter
    taken = set(extra) & (set(WorkorderFilter.base_filters) | set(PAGE_ALIASES) | {"page"})
    if taken:
        raise ImproperlyConfigured(f"List filter names already used: {sorted(taken)}.")
    return type("WorkorderFilter", (WorkorderFilter,), {"__module__": __name__, **extra})


def page_data(query: QueryDict) -> QueryDict | None:
    """The list page's query with old names read as the current ones (``q`` is
    ``search``); None when there is none (an unbound, unfiltered list)."""
    if not query:
        return None
    data = query.copy()
    for old, new in PAGE_ALIASES.items():
        if old in data and new not in data:
            data.setlist(new, data.getlist(old))
        data.pop(old, None)
    return data
