from django.urls import path

from spectora_integration import sync_views, views

app_name = "spectora"
urlpatterns = [
    path("connection/", views.connection, name="connection"),
    path("connection/test/", views.connection_test, name="connection_test"),
    path("connection/disconnect/", views.connection_disconnect, name="connection_disconnect"),
    path("staff/", views.staff, name="staff"),
    path("staff/link/", views.staff_link, name="staff_link"),
    path("staff/unlink/", views.staff_unlink, name="staff_unlink"),
    path("staff/create/", views.staff_create, name="staff_create"),
    path("services/", views.services, name="services"),
    path("failed/", sync_views.failed_syncs, name="failed_syncs"),
]
