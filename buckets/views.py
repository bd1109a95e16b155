from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from objects import services as object_services

from . import quotas
from .access import get_bucket_for_user
from .forms import BucketCreateForm, BucketDeleteForm
from .services import bucket_create as create_bucket


def _render_list(request: HttpRequest, form: BucketCreateForm, status: int = 200) -> HttpResponse:
    return render(
        request,
        "buckets/list.html",
        {"buckets": request.user.buckets.all(), "form": form},
        status=status,
    )


@require_GET
@login_required
def bucket_list(request: HttpRequest) -> HttpResponse:
    return _render_list(request, BucketCreateForm())


@require_POST
@login_required
def bucket_create(request: HttpRequest) -> HttpResponse:
    form = BucketCreateForm(request.POST)
    if form.is_valid():
        try:
            bucket = create_bucket(owner=request.user, name=form.cleaned_data["name"])
        except ValidationError as exc:
            form.add_error("name", exc)
        else:
            messages.success(request, f"Created bucket “{bucket.name}”.")
            return redirect(bucket)
    return _render_list(request, form, status=400)


def _render_settings(
    request: HttpRequest, bucket: object, form: BucketDeleteForm, status: int = 200
) -> HttpResponse:
    context = {
        "bucket": bucket,
        "buckets": request.user.buckets.all(),
        "stats": object_services.bucket_stats(bucket=bucket),
        "usage": quotas.user_usage(request.user.pk),
        "quota": quotas.user_quota(request.user.pk),
        "delete_form": form,
        "tab": "settings",
        "api_url": request.build_absolute_uri("/").rstrip("/"),
    }
    return render(request, "buckets/settings.html", context, status=status)


@require_GET
@login_required
def bucket_settings(request: HttpRequest, bucket_id: str) -> HttpResponse:
    bucket = get_bucket_for_user(request, bucket_id)
    return _render_settings(request, bucket, BucketDeleteForm(bucket=bucket))


@require_http_methods(["POST"])
@login_required
def bucket_delete(request: HttpRequest, bucket_id: str) -> HttpResponse:
    bucket = get_bucket_for_user(request, bucket_id)
    form = BucketDeleteForm(request.POST, bucket=bucket)
    if not form.is_valid():
        return _render_settings(request, bucket, form, status=400)
    name = bucket.name
    count = object_services.bucket_delete(bucket=bucket)
    messages.success(
        request, f"Deleted bucket “{name}” and its {count} object{'s' if count != 1 else ''}."
    )
    return redirect("bucket_list")
