from rest_framework import serializers

from spectora_integration.models import SyncCall, SyncRun


class SyncCallSerializer(serializers.ModelSerializer):
    class Meta:
        model = SyncCall
        fields = ["attempt", "method", "path", "status", "duration_ms", "error", "at",
                  "request_body", "response_body"]


class SyncRunSerializer(serializers.ModelSerializer):
    workorder = serializers.IntegerField(source="workorder_id")
    workorder_number = serializers.IntegerField(source="workorder.number")
    requested_by = serializers.SerializerMethodField()

    class Meta:
        model = SyncRun
        fields = ["id", "workorder", "workorder_number", "kind", "trigger", "requested_by",
                  "force", "state", "reason", "reason_code", "attempts", "created_at",
                  "started_at", "finished_at", "dismissed_at", "summary", "batch"]

    def get_requested_by(self, run) -> str | None:
        return run.requested_by.get_username() if run.requested_by else None


class SyncRunDetailSerializer(SyncRunSerializer):
    calls = SyncCallSerializer(many=True, read_only=True)

    class Meta(SyncRunSerializer.Meta):
        fields = [*SyncRunSerializer.Meta.fields, "calls"]


class SyncRequestSerializer(serializers.Serializer):
    force = serializers.BooleanField(default=False)


class RetrySerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False, max_length=1000,
    )
    all_failed = serializers.BooleanField(default=False)

    def validate(self, attrs):
        if not attrs.get("ids") and not attrs.get("all_failed"):
            raise serializers.ValidationError("Give ids, or all_failed: true.")
        return attrs
