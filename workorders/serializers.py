"""API shapes for workorders and the catalogue (the REST API, described at /api/schema/)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from workorders import services
from workorders.models import Employee, ReportType, Service, Workorder
from workorders.services import AssigneeInput, LineItemInput


class CompanyPrimaryKeyField(serializers.PrimaryKeyRelatedField):
    """A foreign key limited to the caller's company: another company's id is 'does not exist'."""

    def get_queryset(self):
        company = self.context["company"]
        return self.queryset.filter(company=company)


class AssigneeSerializer(serializers.Serializer):
    employee = CompanyPrimaryKeyField(queryset=Employee.objects.all())
    primary = serializers.BooleanField(default=False)


class LineItemSerializer(serializers.Serializer):
    service = CompanyPrimaryKeyField(queryset=Service.objects.all())
    price_cents = serializers.IntegerField(
        min_value=0, max_value=services.PRICE_CENTS_MAX, required=False, allow_null=True
    )
    quantity = serializers.IntegerField(
        min_value=services.QUANTITY_MIN, max_value=services.QUANTITY_MAX, default=1
    )


class ScheduledAtField(serializers.DateTimeField):
    """A date past year 9999 once in UTC (9999-12-31T23:59 in New York) is refused as out of
    the services' window instead of overflowing (500)."""

    def to_internal_value(self, value):
        try:
            return super().to_internal_value(value)
        except OverflowError:
            raise serializers.ValidationError(services.SCHEDULED_WINDOW_MESSAGE) from None


class RowsField(serializers.ListField):
    """Rows of a nested serializer, as a ListField so the schema carries ``maxItems``."""

    def to_internal_value(self, data):
        # Count first: 5,000 rows are refused before 5,000 lookups, not after.
        if self.max_length is not None and isinstance(data, list) and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)

    def to_representation(self, data):
        return super().to_representation(data.all() if hasattr(data, "all") else data)


class SpectoraStateSerializer(serializers.Serializer):
    linked = serializers.BooleanField()
    remote_id = serializers.CharField(allow_null=True)
    url = serializers.CharField(allow_null=True)
    sync_state = serializers.CharField()
    last_synced_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_null=True)


def spectora_state(workorder: Workorder) -> dict:
    link = getattr(workorder, "spectora_link", None)
    if link is None:
        return {
            "linked": False, "remote_id": None, "url": None, "sync_state": "never",
            "last_synced_at": None, "last_error": None,
        }
    return {
        "linked": link.linked,
        "remote_id": link.remote_id,
        "url": link.web_url or None,
        "sync_state": link.sync_state,
        "last_synced_at": link.last_synced_at,
        "last_error": link.last_error or None,
    }


class WorkorderSerializer(serializers.ModelSerializer):
    scheduled_at = ScheduledAtField()
    assignees = RowsField(
        child=AssigneeSerializer(), required=False, max_length=services.ASSIGNEES_MAX
    )
    line_items = RowsField(
        child=LineItemSerializer(), required=False, max_length=services.LINE_ITEMS_MAX
    )
    spectora = serializers.SerializerMethodField()
    version = serializers.IntegerField(required=False)

    class Meta:
        model = Workorder
        fields = [
            "id", "number", "status", "origin", "scheduled_at", "duration_minutes", "address",
            "client_name", "client_email", "notes", "cancel_reason", "version", "assignees",
            "line_items", "spectora", "created_at", "updated_at",
        ]
        read_only_fields = [
            "id", "number", "status", "origin", "cancel_reason", "created_at", "updated_at",
        ]
        # The services' bounds, so the OpenAPI schema (and its fuzzer) knows them too.
        extra_kwargs = {
            "duration_minutes": {
                "min_value": services.DURATION_MIN, "max_value": services.DURATION_MAX,
            },
            "address": {"max_length": services.ADDRESS_MAX_LENGTH},
            "client_name": {"max_length": services.CLIENT_NAME_MAX_LENGTH},
            "client_email": {"max_length": services.CLIENT_EMAIL_MAX_LENGTH},
            "notes": {"max_length": services.NOTES_MAX_LENGTH},
        }

    @extend_schema_field(SpectoraStateSerializer)
    def get_spectora(self, workorder: Workorder) -> dict:
        return SpectoraStateSerializer(spectora_state(workorder)).data

    def to_representation(self, workorder: Workorder) -> dict:
        data = super().to_representation(workorder)
        data["assignees"] = [
            {"employee": a.employee_id, "primary": a.primary} for a in workorder.assignments.all()
        ]
        data["line_items"] = [
            {"service": li.service_id, "price_cents": li.price_cents, "quantity": li.quantity}
            for li in workorder.line_items.all()
        ]
        return data

    def service_inputs(self) -> dict:
        """The validated payload as keyword arguments for the workorder services."""
        data = dict(self.validated_data)
        result = {"values": {}}
        assignees = data.pop("assignees", None)
        line_items = data.pop("line_items", None)
        result["expected_version"] = data.pop("version", None)
        result["values"] = data
        if assignees is not None:
            result["assignees"] = [AssigneeInput(a["employee"], a["primary"]) for a in assignees]
        if line_items is not None:
            result["line_items"] = [
                LineItemInput(i["service"], i.get("price_cents"), i["quantity"])
                for i in line_items
            ]
        return result


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=services.CANCEL_REASON_MAX_LENGTH)


class EmployeeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Employee
        fields = ["id", "name", "email", "active", "spectora_inspector_id"]


class ReportTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReportType
        fields = ["id", "name", "spectora_template_id"]


class ServiceSerializer(serializers.ModelSerializer):
    report_types = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Service
        fields = [
            "id", "name", "kind", "price_cents", "active", "spectora_service_id", "report_types",
        ]
