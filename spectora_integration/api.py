"""Sync endpoints of the REST API (/api/v1/, described at /api/schema/). Thin: services and
selectors do the work."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from spectora_integration.models import RunState, SyncRun, Trigger
from spectora_integration.serializers import (
    RetrySerializer,
    SyncRequestSerializer,
    SyncRunDetailSerializer,
    SyncRunSerializer,
)
from spectora_integration.sync import bulk, engine, runs, selectors
from workorders import permissions
from workorders import selectors as workorder_selectors
from workorders.api_scoping import CompanyScopedMixin


class WorkorderSpectoraMixin(CompanyScopedMixin):
    def workorder(self, pk):
        from django.http import Http404

        try:
            return workorder_selectors.workorder_get(self.company, pk)
        except workorder_selectors.Workorder.DoesNotExist:
            raise Http404 from None


@extend_schema(tags=["spectora"])
class SyncView(WorkorderSpectoraMixin, APIView):
    @extend_schema(
        request=SyncRequestSerializer,
        responses={202: inline_serializer("SyncQueued", {"sync_run": SyncRunSerializer()}),
                   409: inline_serializer("SyncRefused", {"code": serializers.CharField(),
                                                          "detail": serializers.CharField()})},
    )
    def post(self, request, pk):
        self.require(permissions.SYNC)
        workorder = self.workorder(pk)
        body = SyncRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            run = runs.sync_request(
                workorder, request.user, force=body.validated_data["force"],
                trigger=Trigger.API, strict=True,
            )
        except runs.SyncRefused as refused:
            return Response(
                {"code": refused.ineligible.code, "detail": refused.ineligible.message},
                status=status.HTTP_409_CONFLICT,
            )
        return Response({"sync_run": SyncRunSerializer(run).data}, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["spectora"])
class SyncAllView(CompanyScopedMixin, APIView):
    """Admin only: queue a bulk sync of every eligible workorder scheduled from today on."""

    @extend_schema(
        request=SyncRequestSerializer,
        responses={202: inline_serializer("SyncAllQueued", {
            "queued": serializers.IntegerField(), "new": serializers.IntegerField(),
            "joined": serializers.IntegerField(), "skipped": serializers.IntegerField(),
            "skipped_reasons": inline_serializer("SkipGroup", {
                "code": serializers.CharField(), "reason": serializers.CharField(),
                "count": serializers.IntegerField(), "fix": serializers.CharField(),
            }, many=True), "batch": serializers.IntegerField(),
        }), 409: inline_serializer("SyncAllRefused", {"code": serializers.CharField(),
                                                       "detail": serializers.CharField()})},
    )
    def post(self, request):
        self.require(permissions.MANAGE_INTEGRATION)
        body = SyncRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            result = bulk.sync_all(self.company, request.user,
                                   force=body.validated_data["force"])
        except bulk.NotConnected as refused:
            return Response({"code": refused.ineligible.code, "detail": str(refused)},
                            status=status.HTTP_409_CONFLICT)
        return Response({
            "queued": result.queued, "new": result.new, "joined": result.joined,
            "skipped": result.skipped, "batch": result.batch.pk,
            "skipped_reasons": [
                {"code": g.code, "reason": g.reason, "count": g.count,
                 "fix": reverse(g.fix_url_name) if g.fix_url_name else ""}
                for g in result.groups
            ],
        }, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["spectora"])
class PreviewView(WorkorderSpectoraMixin, APIView):
    @extend_schema(responses=inline_serializer("SyncPreview", {
        "eligible": serializers.BooleanField(), "code": serializers.CharField(),
        "reason": serializers.CharField(), "operations": serializers.ListField(),
    }))
    def get(self, request, pk):
        return Response(engine.sync_preview(self.workorder(pk)))


@extend_schema(tags=["spectora"])
class SyncRunViewSet(CompanyScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                     viewsets.GenericViewSet):
    queryset = SyncRun.objects.none()

    def get_serializer_class(self):
        return SyncRunDetailSerializer if self.action == "retrieve" else SyncRunSerializer

    def get_queryset(self):
        state = self.request.query_params.get("state", "")
        if state and state not in RunState.values:
            from workorders.errors import ValidationFailed

            raise ValidationFailed("Unknown state.", fields={
                "state": [f"Choose one of: {', '.join(RunState.values)}."]})
        qs = selectors.sync_run_list(self.company, state=state)
        if self.action == "retrieve":
            qs = qs.prefetch_related("calls")
        return qs

    @extend_schema(parameters=[OpenApiParameter("state", str, enum=RunState.values)])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=RetrySerializer,
                   responses=inline_serializer("Retried", {"retried": serializers.IntegerField()}))
    @action(detail=False, methods=["post"])
    def retry(self, request):
        self.require(permissions.RETRY_SYNCS)
        body = RetrySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        failed = selectors.failed_run_list(self.company)
        if not body.validated_data.get("all_failed"):
            failed = failed.filter(pk__in=body.validated_data["ids"])
        return Response({"retried": runs.sync_retry(failed, request.user)})


@extend_schema(tags=["spectora"])
class SpectoraHealthView(CompanyScopedMixin, APIView):
    """Admins: the connection's state and the queue, as the dashboard shows them."""

    @extend_schema(responses=inline_serializer("SpectoraHealth", {
        "connection": serializers.ChoiceField(
            ["connected", "paused", "failing", "not_connected"]),
        "paused_until": serializers.DateTimeField(allow_null=True),
        "queued": serializers.IntegerField(),
        "retrying": serializers.IntegerField(),
        "failed_24h": serializers.IntegerField(),
        "oldest_queued_seconds": serializers.IntegerField(),
    }))
    def get(self, request):
        self.require(permissions.MANAGE_INTEGRATION)
        return Response(selectors.spectora_health(self.company))
