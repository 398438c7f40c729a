from django.urls import include, path
from rest_framework.routers import DefaultRouter

from workorders import api

router = DefaultRouter()
router.register("workorders", api.WorkorderViewSet, basename="workorder")
router.register("employees", api.EmployeeViewSet, basename="employee")
router.register("services", api.ServiceViewSet, basename="service")
router.register("report-types", api.ReportTypeViewSet, basename="report-type")

urlpatterns = [
    path("auth/token/", api.ObtainTokenView.as_view(), name="api-token"),
    path("", include(router.urls)),
]
