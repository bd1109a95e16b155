from django.urls import path

from . import views

urlpatterns = [
    path("", views.bucket_list, name="bucket_list"),
    path("new", views.bucket_create, name="bucket_create"),
    path("<str:bucket_id>/settings", views.bucket_settings, name="bucket_settings"),
    path("<str:bucket_id>/settings/protection", views.bucket_protection, name="bucket_protection"),
    path(
        "<str:bucket_id>/settings/lifecycle/add",
        views.lifecycle_rule_add,
        name="lifecycle_rule_add",
    ),
    path(
        "<str:bucket_id>/settings/lifecycle/remove",
        views.lifecycle_rule_remove,
        name="lifecycle_rule_remove",
    ),
    path(
        "<str:bucket_id>/settings/lifecycle/preview",
        views.lifecycle_preview,
        name="lifecycle_preview",
    ),
    path("<str:bucket_id>/delete", views.bucket_delete, name="bucket_delete"),
]
