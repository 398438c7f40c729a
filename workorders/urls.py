from django.urls import path

from spectora_integration import inbound_views, sync_views
from workorders import views

app_name = "workorders"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("workorders/", views.workorder_list, name="list"),
    path("workorders/new/", views.workorder_create, name="create"),
    path("workorders/<int:pk>/", views.workorder_detail, name="detail"),
    path("workorders/<int:pk>/edit/", views.workorder_edit, name="edit"),
    path("workorders/<int:pk>/reschedule/", views.workorder_reschedule, name="reschedule"),
    path("workorders/<int:pk>/confirm/", views.workorder_confirm, name="confirm"),
    path("workorders/<int:pk>/cancel/", views.workorder_cancel, name="cancel"),
    path("workorders/<int:pk>/spectora/sync/", sync_views.workorder_sync, name="spectora_sync"),
    path("workorders/<int:pk>/spectora/preview/", sync_views.workorder_preview,
         name="spectora_preview"),
    path("workorders/<int:pk>/spectora/chip/", sync_views.workorder_sync_chip, name="sync_chip"),
    path("workorders/<int:pk>/spectora/refresh/", inbound_views.workorder_refresh,
         name="spectora_refresh"),
]
