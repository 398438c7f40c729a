from django.urls import include, path
from rest_framework.routers import DefaultRouter

from spectora_integration import api as spectora_api
from workorders import api

router = DefaultRouter()
router.register("workorders", api.WorkorderViewSet, basename="workorder")
router.register("employees", api.EmployeeViewSet, basename="employee")
router.register("services", api.ServiceViewSet, basename="service")
router.register("report-types", api.ReportTypeViewSet, basename="report-type")
router.register("sync-runs", spectora_api.SyncRunViewSet, basename="sync-run")

urlpatterns = [
    path("auth/token/", api.ObtainTokenView.as_view(), name="api-token"),
    path("workorders/<int:pk>/spectora/sync/", spectora_api.SyncView.as_view(),
         name="api-spectora-sync"),
    path("workorders/<int:pk>/spectora/preview/", spectora_api.PreviewView.as_view(),
         name="api-spectora-preview"),
    path("", include(router.urls)),
]
