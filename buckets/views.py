import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from objects import lifecycle
from objects import services as object_services
from objects.models import ObjectVersion
from objects.views import duration_words

from . import quotas
from .access import get_bucket_for_user
from .forms import BucketCreateForm, BucketDeleteForm, LifecycleRuleForm, ProtectionForm
from .models import Bucket
from .services import bucket_create as create_bucket
from .services import bucket_update_settings
from .templatetags.bucket_tags import by_name


def _render_list(request: HttpRequest, form: BucketCreateForm, status: int = 200) -> HttpResponse:
    return render(
        request,
        "buckets/list.html",
        {
            # Each card's object count and size: one aggregate query for all the buckets, in
            # the sidebar's order.
            "buckets": by_name(
                request.user.buckets.annotate(
                    object_count=Count("contents"), total_size=Sum("contents__size")
                )
            ),
            "form": form,
        },
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


@dataclass(frozen=True)
class RuleRow:
    index: int
    key: str
    text: str


def _rule_key(rule: dict) -> str:
    """Names a rule in the Remove form, so that a list changed meanwhile removes nothing."""
    return hashlib.sha256(json.dumps(rule, sort_keys=True).encode()).hexdigest()[:16]


def _gone_for_good_by(bucket: Bucket) -> datetime | None:
    """When the last soft-deleted file of the bucket is purged."""
    return ObjectVersion.objects.filter(bucket=bucket, state=ObjectVersion.SOFT_DELETED).aggregate(
        last=Max("hard_delete_time")
    )["last"]


def _render_settings(
    request: HttpRequest,
    bucket: Bucket,
    *,
    delete_form: BucketDeleteForm | None = None,
    protection_form: ProtectionForm | None = None,
    rule_form: LifecycleRuleForm | None = None,
    status: int = 200,
) -> HttpResponse:
    stats = object_services.bucket_stats(bucket=bucket)
    context = {
        "bucket": bucket,
        "buckets": request.user.buckets.all(),
        "stats": stats,
        "gone_by": _gone_for_good_by(bucket) if stats.soft_deleted_count else None,
        "usage": quotas.user_usage(request.user.pk),
        "quota": quotas.user_quota(request.user.pk),
        "delete_form": delete_form or BucketDeleteForm(bucket=bucket),
        "protection_form": protection_form or ProtectionForm(bucket=bucket),
        "retention": duration_words(bucket.soft_delete_seconds),
        "rules": [
            RuleRow(index, _rule_key(rule), lifecycle.describe_rule(rule))
            for index, rule in enumerate(bucket.lifecycle_rules)
        ],
        "rule_form": rule_form or LifecycleRuleForm(),
        "tab": "settings",
        "api_url": request.build_absolute_uri("/").rstrip("/"),
    }
    return render(request, "buckets/settings.html", context, status=status)


def _settings_url(bucket: Bucket) -> str:
    return reverse("bucket_settings", args=[bucket.bucket_id])


@require_GET
@login_required
def bucket_settings(request: HttpRequest, bucket_id: str) -> HttpResponse:
    bucket = get_bucket_for_user(request, bucket_id)
    return _render_settings(request, bucket)


@require_POST
@login_required
def bucket_protection(request: HttpRequest, bucket_id: str) -> HttpResponse:
    """Turn versioning and soft delete on or off, and set how long deleted files are kept."""
    bucket = get_bucket_for_user(request, bucket_id)
    form = ProtectionForm(request.POST, bucket=bucket)
    if form.is_valid():
        try:
            bucket = bucket_update_settings(
                bucket=bucket,
                versioning=form.cleaned_data["versioning"],
                soft_delete_seconds=form.soft_delete_seconds(),
            )
        except ValidationError as exc:
            form.add_error("soft_delete_days", exc)
        else:
            versioning = "on" if bucket.versioning_enabled else "off"
            if bucket.soft_delete_seconds:
                kept = f"deleted files are kept for {duration_words(bucket.soft_delete_seconds)}"
            else:
                kept = "soft delete is off"
            messages.success(request, f"Saved: versioning is {versioning}; {kept}.")
            return redirect(_settings_url(bucket))
    return _render_settings(request, bucket, protection_form=form, status=400)


@require_POST
@login_required
def lifecycle_rule_add(request: HttpRequest, bucket_id: str) -> HttpResponse:
    bucket = get_bucket_for_user(request, bucket_id)
    form = LifecycleRuleForm(request.POST)
    if form.is_valid():
        rule = form.rule()
        try:
            bucket_update_settings(
                bucket=bucket,
                lifecycle_edit=lambda rules: lifecycle.validate_rules([*rules, rule]),
            )
        except lifecycle.InvalidLifecycle as exc:
            form.add_error(None, ValidationError(str(exc), code="invalid_lifecycle"))
        else:
            messages.success(request, f"Added the rule “{lifecycle.describe_rule(rule)}”.")
            return redirect(_settings_url(bucket))
    return _render_settings(request, bucket, rule_form=form, status=400)


@require_POST
@login_required
def lifecycle_rule_remove(request: HttpRequest, bucket_id: str) -> HttpResponse:
    bucket = get_bucket_for_user(request, bucket_id)
    index = request.POST.get("index", "")
    key = request.POST.get("key", "")
    removed: list[dict] = []

    def remove(rules: list[dict]) -> list[dict]:
        # Judged on the rules as they are under the row lock, not as the page showed them.
        if not (index.isdigit() and int(index) < len(rules)) or _rule_key(rules[int(index)]) != key:
            raise _StaleRules  # rolls the transaction back: the bucket is not touched
        removed.append(rules.pop(int(index)))
        return rules

    try:
        bucket_update_settings(bucket=bucket, lifecycle_edit=remove)
    except _StaleRules:
        messages.error(request, "The rules changed meanwhile; nothing was removed.")
    else:
        messages.success(request, f"Removed the rule “{lifecycle.describe_rule(removed[0])}”.")
    return redirect(_settings_url(bucket))


class _StaleRules(Exception):
    pass


PREVIEW_LIMIT = 50


@require_GET
@login_required
def lifecycle_preview(request: HttpRequest, bucket_id: str) -> HttpResponse:
    """What the next lifecycle run would delete: loaded into the Settings tab after the page
    (a dry run reads the bucket), or a page of its own without JavaScript."""
    bucket = get_bucket_for_user(request, bucket_id)
    report = lifecycle.preview(bucket, limit=PREVIEW_LIMIT)
    context = {
        "bucket": bucket,
        "report": report,
        "items": report.items[:PREVIEW_LIMIT],
        "bytes": sum(result.bytes for result in report.buckets),
        "limit": PREVIEW_LIMIT,
    }
    if request.htmx:
        return render(request, "buckets/lifecycle_preview.html#preview", context)
    context.update({"buckets": request.user.buckets.all(), "tab": "settings"})
    return render(request, "buckets/lifecycle_preview.html", context)


@require_http_methods(["POST"])
@login_required
def bucket_delete(request: HttpRequest, bucket_id: str) -> HttpResponse:
    bucket = get_bucket_for_user(request, bucket_id)
    form = BucketDeleteForm(request.POST, bucket=bucket)
    if not form.is_valid():
        return _render_settings(request, bucket, delete_form=form, status=400)
    name = bucket.name
    count = object_services.bucket_delete(bucket=bucket)
    messages.success(
        request, f"Deleted bucket “{name}” and its {count} object{'s' if count != 1 else ''}."
    )
    return redirect("bucket_list")
