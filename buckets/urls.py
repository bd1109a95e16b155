from django.urls import path

from . import views

urlpatterns = [
    path("", views.bucket_list, name="bucket_list"),
    path("new", views.bucket_create, name="bucket_create"),
    path("<str:bucket_id>/settings", views.bucket_settings, name="bucket_settings"),
    path("<str:bucket_id>/delete", views.bucket_delete, name="bucket_delete"),
]
