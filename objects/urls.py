from django.urls import path

from . import views

urlpatterns = [
    path("<str:bucket_id>/", views.object_browser, name="object_browser"),
    path("<str:bucket_id>/upload", views.object_upload, name="object_upload"),
    path("<str:bucket_id>/download", views.object_download, name="object_download"),
    path("<str:bucket_id>/folders/new", views.folder_create, name="folder_create"),
    path("<str:bucket_id>/folders/delete", views.folder_delete, name="folder_delete"),
    path("<str:bucket_id>/objects/delete", views.object_delete, name="object_delete"),
]
