from django.urls import path

from . import (
    bulk_views,
    detail_views,
    find_views,
    move_views,
    share_views,
    upload_views,
    version_views,
    views,
)

urlpatterns = [
    path("<str:bucket_id>/", views.object_browser, name="object_browser"),
    path("<str:bucket_id>/upload", views.object_upload, name="object_upload"),
    path("<str:bucket_id>/download", views.object_download, name="object_download"),
    path("<str:bucket_id>/folders/new", views.folder_create, name="folder_create"),
    path("<str:bucket_id>/folders/delete", views.folder_delete, name="folder_delete"),
    path("<str:bucket_id>/objects/delete", views.object_delete, name="object_delete"),
    path("<str:bucket_id>/undo", views.delete_undo, name="delete_undo"),
    path("<str:bucket_id>/details", detail_views.object_details, name="object_details"),
    path("<str:bucket_id>/preview", detail_views.object_preview, name="object_preview"),
    path("<str:bucket_id>/pdf-page", detail_views.object_pdf_page, name="object_pdf_page"),
    path("<str:bucket_id>/thumbnail", detail_views.object_thumbnail, name="object_thumbnail"),
    path("<str:bucket_id>/move", detail_views.object_move, name="object_move"),
    path("<str:bucket_id>/zip", detail_views.folder_zip, name="folder_zip"),
    path("<str:bucket_id>/find", find_views.object_find, name="object_find"),
    path("<str:bucket_id>/selection", bulk_views.bulk_action, name="bulk_action"),
    path("<str:bucket_id>/shares", share_views.share_links, name="share_links"),
    path(
        "<str:bucket_id>/shares/<int:link_id>/revoke",
        share_views.share_revoke,
        name="share_revoke",
    ),
    path("<str:bucket_id>/folders/move", move_views.folder_move, name="folder_move"),
    path("<str:bucket_id>/moves/<int:move_id>", move_views.move_page, name="folder_move_page"),
    path("<str:bucket_id>/moves/<int:move_id>/step", move_views.move_step, name="folder_move_step"),
    path(
        "<str:bucket_id>/moves/<int:move_id>/<str:action>",
        move_views.move_control,
        name="folder_move_control",
    ),
    path("<str:bucket_id>/versions", version_views.object_versions, name="object_versions"),
    path("<str:bucket_id>/versions/restore", version_views.version_restore, name="version_restore"),
    path("<str:bucket_id>/versions/delete", version_views.version_delete, name="version_delete"),
    path("<str:bucket_id>/deleted", version_views.deleted_list, name="deleted_list"),
    path("<str:bucket_id>/deleted/restore", version_views.deleted_restore, name="deleted_restore"),
    # pane uploads
    path("<str:bucket_id>/uploads/check", upload_views.upload_check, name="pane_upload_check"),
    path("<str:bucket_id>/uploads/file", upload_views.upload_file, name="pane_upload_file"),
    path(
        "<str:bucket_id>/uploads/sessions",
        upload_views.session_create,
        name="pane_upload_session_create",
    ),
    path(
        "<str:bucket_id>/uploads/sessions/<str:upload_id>",
        upload_views.session_status,
        name="pane_upload_session_status",
    ),
    path(
        "<str:bucket_id>/uploads/sessions/<str:upload_id>/chunk",
        upload_views.session_chunk,
        name="pane_upload_session_chunk",
    ),
    path(
        "<str:bucket_id>/uploads/sessions/<str:upload_id>/cancel",
        upload_views.session_abort,
        name="pane_upload_session_abort",
    ),
]
