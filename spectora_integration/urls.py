"""The integration's pages: Spectora setup (admins), Failed syncs, and the per-workorder
actions that the office's Actions menu links to. Included at the site's root."""

from django.urls import path

from spectora_integration.inbound import views as inbound_views
from spectora_integration.setup import views as setup_views
from spectora_integration.sync import views as sync_views

app_name = "spectora"
urlpatterns = [
    path("spectora/connection/", setup_views.connection, name="connection"),
    path("spectora/connection/test/", setup_views.connection_test, name="connection_test"),
    path("spectora/connection/disconnect/", setup_views.connection_disconnect,
         name="connection_disconnect"),
    path("spectora/sync-all/", setup_views.sync_all, name="sync_all"),
    path("spectora/sync-all/progress/", setup_views.sync_all_progress, name="sync_all_progress"),
    path("spectora/staff/", setup_views.staff, name="staff"),
    path("spectora/staff/link/", setup_views.staff_link, name="staff_link"),
    path("spectora/staff/unlink/", setup_views.staff_unlink, name="staff_unlink"),
    path("spectora/staff/create/", setup_views.staff_create, name="staff_create"),
    path("spectora/services/", setup_views.services, name="services"),
    path("spectora/failed/", sync_views.failed_syncs, name="failed_syncs"),
    path("workorders/<int:pk>/spectora/sync/", sync_views.workorder_sync, name="workorder_sync"),
    path("workorders/<int:pk>/spectora/preview/", sync_views.workorder_preview,
         name="workorder_preview"),
    path("workorders/<int:pk>/spectora/chip/", sync_views.workorder_sync_chip, name="sync_chip"),
    path("workorders/<int:pk>/spectora/refresh/", inbound_views.workorder_refresh,
         name="workorder_refresh"),
]
