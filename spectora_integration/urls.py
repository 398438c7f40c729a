from django.urls import path

app_name = "spectora"
urlpatterns: list = [
    # Connection, staff links and service mapping pages: being built (issue 4).
]
