from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from buckets import token_views
from buckets.throttle import ThrottledAdminAuthenticationForm, ThrottledAuthenticationForm
from objects import share_views
from objects.api.views import api
from objstore_site.health import healthz

# Both sign-in forms are throttled per account and per address (buckets/throttle.py).
admin.site.login_form = ThrottledAdminAuthenticationForm

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # The GCS JSON API, under the path prefixes the client libraries use (GCS_API.md §3).
    re_path(r"^(?:storage/v1/|upload/storage/v1/|download/storage/v1/)?b(?:/.*)?$", api),
    path("", RedirectView.as_view(pattern_name="bucket_list", permanent=False)),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=ThrottledAuthenticationForm),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("tokens/", token_views.token_list, name="token_list"),
    path("tokens/new", token_views.token_new, name="token_new"),
    path("tokens/<uuid:public_id>/revoke", token_views.token_delete, name="token_delete"),
    # Share links: public, no account (objects/share_views.py).
    path("s/<str:token>", share_views.share_open, name="share_open"),
    path("s/<str:token>/download", share_views.share_download, name="share_download"),
    path("s/<str:token>/zip", share_views.share_zip, name="share_zip"),
    path("buckets/", include("buckets.urls")),
    path("buckets/", include("objects.urls")),
]
