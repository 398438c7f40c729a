"""REST API for workorders and the catalogue. Thin: selectors to read, services to write."""

from __future__ import annotations

from datetime import date

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from workorders import permissions, selectors, services
from workorders.api_scoping import CompanyScopedMixin
from workorders.errors import ValidationFailed
from workorders.models import Employee, Origin, ReportType, Service, Workorder, WorkorderStatus
from workorders.serializers import (
    CancelSerializer,
    EmployeeSerializer,
    ReportTypeSerializer,
    ServiceSerializer,
    WorkorderSerializer,
)

list_filters = [
    OpenApiParameter("search", str, description="Number, address or client name"),
    OpenApiParameter("status", str, enum=WorkorderStatus.values),
    OpenApiParameter("origin", str, enum=Origin.values),
    OpenApiParameter("date_from", OpenApiTypes.DATE),
    OpenApiParameter("date_to", OpenApiTypes.DATE),
    OpenApiParameter("inspector", int, description="Employee id"),
]


@extend_schema(tags=["workorders"])
class WorkorderViewSet(
    CompanyScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = WorkorderSerializer
    queryset = Workorder.objects.none()  # for the schema; get_queryset scopes to the company
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        params = self.request.query_params
        filters = {k: params.get(k, "") for k in ("search", "status", "origin")}
        for key in ("date_from", "date_to"):
            filters[key] = _parse_date(params.get(key), key)
        inspector = params.get("inspector")
        if inspector:
            if not inspector.isdigit():
                raise ValidationFailed(
                    "inspector must be an id.", fields={"inspector": ["Enter an id."]}
                )
            filters["inspector"] = int(inspector)
        for key, choices in (("status", WorkorderStatus.values), ("origin", Origin.values)):
            if filters[key] and filters[key] not in choices:
                raise ValidationFailed(
                    f"Unknown {key}.", fields={key: [f"Choose one of: {', '.join(choices)}."]}
                )
        return selectors.workorder_list(self.company, **filters)

    @extend_schema(parameters=list_filters)
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(parameters=[OpenApiParameter(
        "Idempotency-Key", str, OpenApiParameter.HEADER,
        description="The same key with the same body answers the first workorder again "
                    "(kept 24 h); with another body it is 422 `idempotency_key_reused`.",
    )])
    def create(self, request, *args, **kwargs):
        self.require(permissions.CREATE)
        idempotency = _idempotency(request)
        if idempotency:
            replayed = services.idempotent_replay(self.company, idempotency)
            if replayed:
                return self._created(replayed)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        inputs = serializer.service_inputs()
        inputs.pop("expected_version")
        workorder = services.workorder_create(
            company=self.company,
            user=request.user,
            idempotency=idempotency,
            **inputs,
        )
        return self._created(workorder)

    def _created(self, workorder):
        workorder = selectors.workorder_get(self.company, workorder.pk)
        return Response(self.get_serializer(workorder).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        self.require(permissions.EDIT)
        workorder = self.get_object()
        serializer = self.get_serializer(workorder, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.workorder_update(workorder, user=request.user, **serializer.service_inputs())
        workorder = selectors.workorder_get(self.company, workorder.pk)
        return Response(self.get_serializer(workorder).data)

    @extend_schema(request=None, responses=WorkorderSerializer)
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        self.require(permissions.CONFIRM)
        workorder = self.get_object()
        services.workorder_confirm(workorder, user=request.user)
        return Response(self.get_serializer(selectors.workorder_get(self.company, pk)).data)

    @extend_schema(request=CancelSerializer, responses=WorkorderSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        self.require(permissions.CANCEL)
        workorder = self.get_object()
        body = CancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reason = body.validated_data["reason"]
        services.workorder_cancel(workorder, user=request.user, reason=reason)
        return Response(self.get_serializer(selectors.workorder_get(self.company, pk)).data)


def _idempotency(request) -> services.IdempotencyInput | None:
    key = request.headers.get("Idempotency-Key") or ""
    if not key:
        return None
    data = request.data
    payload = {k: data.getlist(k) for k in data} if hasattr(data, "getlist") else data
    return services.IdempotencyInput(key=key, request_hash=services.request_fingerprint(payload))


def _parse_date(value, key):
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            f"{key} must be a date.", fields={key: ["Use the format YYYY-MM-DD."]}
        ) from None


class CatalogueViewSet(CompanyScopedMixin, viewsets.ReadOnlyModelViewSet):
    selector = None

    def get_queryset(self):
        return type(self).selector(self.company)


@extend_schema(tags=["catalogue"])
class EmployeeViewSet(CatalogueViewSet):
    serializer_class = EmployeeSerializer
    queryset = Employee.objects.none()
    selector = staticmethod(selectors.employee_list)


@extend_schema(tags=["catalogue"])
class ServiceViewSet(CatalogueViewSet):
    serializer_class = ServiceSerializer
    queryset = Service.objects.none()
    selector = staticmethod(selectors.service_list)


@extend_schema(tags=["catalogue"])
class ReportTypeViewSet(CatalogueViewSet):
    serializer_class = ReportTypeSerializer
    queryset = ReportType.objects.none()
    selector = staticmethod(selectors.report_type_list)

