from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from spectora_integration.inbound import webhooks
from workorders.api_auth import docs_view

urlpatterns = [
    path("", include("operations.urls")),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("spectora_integration.api_urls")),
    path("api/v1/", include("workorders.api_urls")),
    path("api/spectora/webhooks/<int:connection_id>/", webhooks.receive,
         name="spectora_webhook"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI with its script (?script) and style as files: the CSP allows it.
    path("api/docs/", docs_view(SpectacularSwaggerSplitView.as_view(
        url_name="schema", template_name="api_docs.html")), name="api-docs"),
    path("", include("spectora_integration.urls")),
    path("", include("workorders.urls")),
]
