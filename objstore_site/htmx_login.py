"""Sign-in for htmx requests: lead the whole page to the sign-in form, and back.

``login_required`` answers an anonymous request with a redirect to the sign-in page. An htmx
request follows that redirect inside its XMLHttpRequest and would swap the whole sign-in page
into the listing. This middleware turns such a redirect into ``HX-Redirect`` (htmx then loads
the sign-in page as the page itself), with ``next`` set to the page the user was on
(``HX-Current-URL``), not to the endpoint the request went to.
"""

from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme


def _page_path(request: HttpRequest) -> str:
    """The path and query of the page the htmx request came from, if it is on this site."""
    current = request.headers.get("HX-Current-URL", "")
    if current and url_has_allowed_host_and_scheme(
        current, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        parts = urlsplit(current)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return request.get_full_path()


class HtmxLoginRedirectMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.headers.get("HX-Request") != "true" or response.status_code != 302:
            return response
        login_url = resolve_url(settings.LOGIN_URL)
        if urlsplit(response.get("Location", "")).path != login_url:
            return response
        target = f"{login_url}?{urlencode({REDIRECT_FIELD_NAME: _page_path(request)})}"
        # 200 with no body: htmx swaps nothing and loads ``HX-Redirect`` as the page.
        answer = HttpResponse(status=200)
        answer["HX-Redirect"] = target
        return answer
