from django.urls import path

from workorders import views

app_name = "workorders"
urlpatterns = [
    path("", views.workorder_list, name="list"),
]
