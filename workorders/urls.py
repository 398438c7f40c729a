from django.urls import path

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
]
