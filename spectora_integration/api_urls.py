"""The integration's part of the REST API (``/api/v1/``)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from spectora_integration import api

router = SimpleRouter()
router.register("sync-runs", api.SyncRunViewSet, basename="sync-run")

urlpatterns = [
    path("workorders/<int:pk>/spectora/sync/", api.SyncView.as_view(),
         name="api-spectora-sync"),
    path("workorders/<int:pk>/spectora/preview/", api.PreviewView.as_view(),
         name="api-spectora-preview"),
    path("spectora/health/", api.SpectoraHealthView.as_view(), name="api-spectora-health"),
    path("spectora/sync-all/", api.SyncAllView.as_view(), name="api-spectora-sync-all"),
    *router.urls,
]
