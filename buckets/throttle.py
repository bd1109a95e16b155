"""Sign-in throttling for the pane's and the admin's login forms.

Every wrong password is counted against the account (the username typed, whether or not such a
user exists) and against the client's address, in the database (``LoginFailure``), so that all
gunicorn workers and app servers share the counts. ``OBJSTORE_LOGIN_MAX_FAILURES`` failures
for one account within ``OBJSTORE_LOGIN_LOCKOUT`` seconds lock that account's sign-in for
``OBJSTORE_LOGIN_LOCKOUT`` seconds from the last of them;
``OBJSTORE_LOGIN_MAX_FAILURES_PER_ADDRESS`` do the same for an address, whatever usernames it
tries. A successful sign-in clears the
account's count (not the address's: one's own account must not reset a guesser's budget).

The check comes before the password is hashed, so a refused guess costs one indexed query and
no hashing. The hashing itself (hundreds of milliseconds of CPU by design) runs in at most
``OBJSTORE_LOGIN_CONCURRENT_CHECKS`` threads per process at once, with at most three more per
slot waiting for their turn; a sign-in that finds no place to wait, or waits longer than
``OBJSTORE_LOGIN_CHECK_WAIT`` seconds, is refused with a message. So a flood of guesses from
many addresses can neither keep every CPU hashing nor occupy every thread of a worker, and the
API keeps its threads.
"""

import logging
import math
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AuthenticationForm
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from objstore_site.slots import Busy, Slots

from .models import LoginFailure

logger = logging.getLogger(__name__)

ACCOUNT_LOCKED = "Too many failed sign-in attempts for this account; try again in {wait}."
ADDRESS_LOCKED = "Too many failed sign-in attempts from your network address; try again in {wait}."
BUSY = "Too many sign-in attempts are being checked right now; try again in a moment."

SWEEP_EVERY = 60  # seconds between two deletions of old rows, per process
_last_sweep = 0.0
_slots_lock = threading.Lock()
WAITING_PER_SLOT = 3  # sign-ins that may wait for each password-checking slot
_slots: Slots | None = None


def _now() -> datetime:
    return timezone.now()


def max_failures() -> int:
    return settings.OBJSTORE_LOGIN_MAX_FAILURES


def max_failures_per_address() -> int:
    return settings.OBJSTORE_LOGIN_MAX_FAILURES_PER_ADDRESS


def lockout() -> timedelta:
    return timedelta(seconds=settings.OBJSTORE_LOGIN_LOCKOUT)


def account_key(username: str) -> str:
    return username.casefold()[:255]


def client_address(request: HttpRequest | None) -> str:
    """``REMOTE_ADDR``; behind ``OBJSTORE_LOGIN_TRUSTED_PROXIES`` proxies that each append the
    address they saw to ``X-Forwarded-For``, the address the outermost of them saw."""
    if request is None:
        return ""
    address = request.META.get("REMOTE_ADDR", "")
    proxies = settings.OBJSTORE_LOGIN_TRUSTED_PROXIES
    if proxies > 0:
        forwarded = [
            item.strip()
            for item in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if item.strip()
        ]
        if len(forwarded) >= proxies:
            address = forwarded[-proxies]
    return address[:255]


def locked_until(scope: str, key: str, limit: int, now: datetime) -> datetime | None:
    """When the lockout of ``key`` ends, if ``limit`` failures within a lockout period are
    followed by less than a lockout period (refused attempts add no failures)."""
    if limit <= 0 or not key:
        return None
    period = lockout()
    recent = list(
        LoginFailure.objects.filter(scope=scope, key=key, at__gt=now - 2 * period)
        .order_by("-at")
        .values_list("at", flat=True)[:limit]
    )
    if len(recent) < limit:
        return None
    last, first = recent[0], recent[-1]
    if last - first <= period and now < last + period:
        return last + period
    return None


def _wait_text(until: datetime, now: datetime) -> str:
    minutes = max(1, math.ceil((until - now).total_seconds() / 60))
    return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"


def refusal(username: str, address: str) -> str | None:
    """The message refusing a sign-in attempt before its password is checked, or None."""
    now = _now()
    until = locked_until(LoginFailure.ACCOUNT, account_key(username), max_failures(), now)
    if until is not None:
        return ACCOUNT_LOCKED.format(wait=_wait_text(until, now))
    until = locked_until(LoginFailure.ADDRESS, address, max_failures_per_address(), now)
    if until is not None:
        return ADDRESS_LOCKED.format(wait=_wait_text(until, now))
    return None


def record_failure(username: str, address: str) -> None:
    global _last_sweep
    now = _now()
    rows = [LoginFailure(scope=LoginFailure.ACCOUNT, key=account_key(username), at=now)]
    if address:
        rows.append(LoginFailure(scope=LoginFailure.ADDRESS, key=address, at=now))
    with transaction.atomic():
        LoginFailure.objects.bulk_create(rows)
        if time.monotonic() - _last_sweep > SWEEP_EVERY:
            _last_sweep = time.monotonic()
            LoginFailure.objects.filter(at__lt=now - 2 * lockout()).delete()
    logger.warning("failed sign-in for %r from %s", username[:150], address or "unknown address")


def clear_account(username: str) -> None:
    LoginFailure.objects.filter(scope=LoginFailure.ACCOUNT, key=account_key(username)).delete()


def _password_check_slots() -> Slots:
    """This process's slots for hashing a password (``WAITING_PER_SLOT`` waiting per slot)."""
    global _slots
    size = max(1, settings.OBJSTORE_LOGIN_CONCURRENT_CHECKS)
    with _slots_lock:
        if _slots is None or _slots.size != size:
            _slots = Slots(size, wait=0, waiting_per_slot=WAITING_PER_SLOT)
        return _slots


@contextmanager
def password_check_slot():
    """Holds one of this process's password-checking slots; raises ``ValidationError`` at once
    when too many sign-ins are waiting already, or if none frees up within
    ``OBJSTORE_LOGIN_CHECK_WAIT`` seconds."""
    try:
        with _password_check_slots().held(settings.OBJSTORE_LOGIN_CHECK_WAIT):
            yield
    except Busy:
        raise forms.ValidationError(BUSY, code="throttled") from None


class ThrottledLoginMixin:
    """``AuthenticationForm.clean`` with the throttle around ``authenticate``."""

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            address = client_address(self.request)
            if message := refusal(username, address):
                raise forms.ValidationError(message, code="throttled")
            with password_check_slot():
                # Again: guesses queued for the slot meanwhile may have locked the account.
                if message := refusal(username, address):
                    raise forms.ValidationError(message, code="throttled")
                self.user_cache = authenticate(self.request, username=username, password=password)
            if self.user_cache is None:
                record_failure(username, address)
                if message := refusal(username, address):
                    raise forms.ValidationError(message, code="throttled")
                raise self.get_invalid_login_error()
            clear_account(username)
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class ThrottledAuthenticationForm(ThrottledLoginMixin, AuthenticationForm):
    """The pane's sign-in form (``/accounts/login/``)."""


class ThrottledAdminAuthenticationForm(ThrottledLoginMixin, AdminAuthenticationForm):
    """The admin's sign-in form (``/admin/login/``): staff only, as Django's."""
