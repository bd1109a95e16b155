"""The pane's API tokens page: make a token (its secret is shown once), list, revoke."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from .models import ApiToken, Bucket
from .tokens import token_create, token_revoke

_NEW_SECRET = "objstore_new_token"


class TokenCreateForm(forms.Form):
    name = forms.CharField(label="Token name", max_length=100)
    read_only = forms.BooleanField(label="Read-only", required=False)
    bucket = forms.ModelChoiceField(
        label="Limit to bucket",
        queryset=Bucket.objects.none(),
        required=False,
        to_field_name="bucket_id",
        empty_label="All my buckets",
    )

    def __init__(self, *args: object, owner: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["bucket"].queryset = Bucket.objects.filter(owner=owner)


def _render(request: HttpRequest, form: TokenCreateForm, status: int = 200) -> HttpResponse:
    context = {
        "form": form,
        "tokens": request.user.api_tokens.select_related("bucket"),
        "buckets": request.user.buckets.all(),
        "new_secret": request.session.pop(_NEW_SECRET, None),
    }
    return render(request, "buckets/tokens.html", context, status=status)


@require_GET
@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    initial = {"bucket": request.GET.get("bucket")} if request.GET.get("bucket") else None
    return _render(request, TokenCreateForm(owner=request.user, initial=initial))


@require_POST
@login_required
def token_new(request: HttpRequest) -> HttpResponse:
    form = TokenCreateForm(request.POST, owner=request.user)
    if not form.is_valid():
        return _render(request, form, status=400)
    try:
        token, secret = token_create(
            owner=request.user,
            name=form.cleaned_data["name"],
            read_only=form.cleaned_data["read_only"],
            bucket=form.cleaned_data["bucket"],
        )
    except ValidationError as exc:
        form.add_error("name", exc)
        return _render(request, form, status=400)
    # Shown on the next page only (POST/redirect/GET); objstore keeps just its hash.
    request.session[_NEW_SECRET] = {"name": token.name, "secret": secret}
    return redirect("token_list")


@require_POST
@login_required
def token_delete(request: HttpRequest, public_id: str) -> HttpResponse:
    token = get_object_or_404(ApiToken, public_id=public_id, owner=request.user)
    token_revoke(token=token)
    messages.success(
        request, f"Revoked the token “{token.name}”. Programs using it can no longer connect."
    )
    return redirect("token_list")
