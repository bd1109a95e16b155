"""The pane's Find tab: a bucket's names by substring or glob (``objects/find.py``).

A plain GET form, so a search is a URL that can be bookmarked and works without JavaScript;
each page of results links to the next one, and a search that ran out of its time budget
before filling a page offers to keep searching from where it stopped.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from buckets.access import get_bucket_for_user

from .find import PAGE, InvalidQuery, Query, objects_find
from .views import browser_url


@require_GET
@login_required
def object_find(request: HttpRequest, bucket_id: str) -> HttpResponse:
    bucket = get_bucket_for_user(request, bucket_id)
    text = request.GET.get("q", "")
    mode = request.GET.get("match", "contains")
    after = request.GET.get("after", "")
    context = {
        "bucket": bucket,
        "buckets": request.user.buckets.all(),
        "tab": "find",
        "q": text,
        "match": mode if mode in ("contains", "glob") else "contains",
        "searched": bool(text),
        "page_size": PAGE,
        "is_continuation": bool(after),
    }
    status = 200
    if text:
        try:
            query = Query.parse(text, mode)
        except InvalidQuery as exc:
            context["error"], status = str(exc), 400
        else:
            found = objects_find(bucket=bucket, query=query, after=after)
            context["results"] = [
                {"item": item, "folder": folder, "folder_url": browser_url(bucket, folder)}
                for item in found.objects
                for folder in [_folder_of(item.name)]
            ]
            context["partial"] = found.partial
            if found.after is not None:
                context["next_url"] = _find_url(bucket, q=text, match=mode, after=found.after)
                context["resume_after"] = found.after
            context["first_url"] = _find_url(bucket, q=text, match=mode)
    return render(request, "objects/find.html", context, status=status)


def _folder_of(name: str) -> str:
    """The folder that shows ``name`` in the listing (a "folder/" object shows in its parent)."""
    cut = name.rstrip("/").rfind("/")
    return name[: cut + 1] if cut >= 0 else ""


def _find_url(bucket, **query: str) -> str:
    return f"{reverse('object_find', args=[bucket.bucket_id])}?{urlencode(query)}"
