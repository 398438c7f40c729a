from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from spectora_integration.inbound import webhooks

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
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("spectora_integration.urls")),
    path("", include("workorders.urls")),
]
