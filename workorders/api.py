"""REST API for workorders and the catalogue. Thin: selectors to read, services to write."""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from workorders import filters, permissions, selectors, services
from workorders.api_scoping import CompanyScopedMixin
from workorders.models import Employee, ReportType, Service, Workorder
from workorders.serializers import (
    CancelSerializer,
    EmployeeSerializer,
    ReportTypeSerializer,
    ServiceSerializer,
    WorkorderSerializer,
)

# The filters are read from the FilterSet; these say what it cannot (choices set per company).
list_parameters = [
    OpenApiParameter(
        "search", str,
        description="Number, address, client name or email, inspector name or service name",
    ),
    OpenApiParameter("inspector", int, description="Employee id (one of your company's)"),
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

    filter_backends = [DjangoFilterBackend]

    @property
    def filterset_class(self):
        return filters.workorder_filterset()

    def get_queryset(self):
        return selectors.workorder_list(self.company)

    @extend_schema(parameters=list_parameters)
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

