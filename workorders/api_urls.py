from django.urls import include, path
from rest_framework.routers import DefaultRouter

from workorders import api, api_auth

router = DefaultRouter()
router.register("workorders", api.WorkorderViewSet, basename="workorder")
router.register("employees", api.EmployeeViewSet, basename="employee")
router.register("services", api.ServiceViewSet, basename="service")
router.register("report-types", api.ReportTypeViewSet, basename="report-type")

urlpatterns = [
    path("auth/token/", api_auth.ObtainTokenView.as_view(), name="api-token"),
    path("auth/token/revoke/", api_auth.RevokeTokenView.as_view(), name="api-token-revoke"),
    path("auth/token/revoke-all/", api_auth.RevokeAllTokensView.as_view(),
         name="api-token-revoke-all"),
    path("", include(router.urls)),
]
