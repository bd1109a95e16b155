"""Sign-in throttling (buckets/throttle.py) on the pane's and the admin's login forms."""

import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User
from django.test import Client, RequestFactory
from django.utils import timezone

from buckets import throttle
from buckets.models import LoginFailure

from .conftest import PASSWORD

PANE = "/accounts/login/"
ADMIN = "/admin/login/"
WRONG = "not the password"
INVALID = "Please enter a correct username and password"
ADMIN_INVALID = "Please enter the correct username and password for a staff account"
ACCOUNT_LOCKED = "Too many failed sign-in attempts for this account; try again in 15 minutes."
ADDRESS_LOCKED = "Too many failed sign-in attempts from your network address"


@pytest.fixture(autouse=True)
def limits(settings):
    settings.OBJSTORE_LOGIN_MAX_FAILURES = 5
    settings.OBJSTORE_LOGIN_MAX_FAILURES_PER_ADDRESS = 20
    settings.OBJSTORE_LOGIN_LOCKOUT = 900
    settings.OBJSTORE_LOGIN_CONCURRENT_CHECKS = 1
    settings.OBJSTORE_LOGIN_CHECK_WAIT = 5
    settings.OBJSTORE_LOGIN_TRUSTED_PROXIES = 0
    return settings


class Clock:
    def __init__(self) -> None:
        self.now = timezone.now()

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(throttle, "_now", lambda: clock.now)
    return clock


@pytest.fixture
def password_checks(monkeypatch) -> list[str]:
    """The usernames whose password was checked (hashed), in order."""
    checked: list[str] = []
    real = throttle.authenticate

    def counting(request, username, password):
        checked.append(username)
        return real(request, username=username, password=password)

    monkeypatch.setattr(throttle, "authenticate", counting)
    return checked


def sign_in(username, password, *, url=PANE, address="10.0.0.1", **extra):
    """Posts the sign-in form as a browser does (urlencoded) from ``address``."""
    client = Client()
    response = client.post(
        url,
        urlencode({"username": username, "password": password}),
        content_type="application/x-www-form-urlencoded",
        REMOTE_ADDR=address,
        **extra,
    )
    signed_in = response.status_code == 302 and "_auth_user_id" in client.session
    return response, signed_in


def test_the_sixth_attempt_is_refused_even_with_the_right_password(alice, clock, password_checks):
    for _ in range(4):
        response, signed_in = sign_in("alice", WRONG)
        assert not signed_in
        assert INVALID in response.content.decode()
    # The fifth failure locks the account, and says so.
    response, _ = sign_in("alice", WRONG)
    assert ACCOUNT_LOCKED in response.content.decode()
    assert len(password_checks) == 5

    response, signed_in = sign_in("alice", PASSWORD)
    assert not signed_in
    assert response.status_code == 200
    html = response.content.decode()
    assert ACCOUNT_LOCKED in html and INVALID not in html
    assert f'<p class="message error" role="alert">{ACCOUNT_LOCKED}</p>' in html  # on the form
    assert len(password_checks) == 5  # refused before any hashing

    # From another address too: the lock is the account's.
    _, signed_in = sign_in("alice", PASSWORD, address="10.0.0.2")
    assert not signed_in
    clock.advance(14 * 60 + 30)
    response, signed_in = sign_in("alice", PASSWORD)
    assert not signed_in and "try again in 1 minute." in response.content.decode()
    assert len(password_checks) == 5

    clock.advance(31)
    _, signed_in = sign_in("alice", PASSWORD)
    assert signed_in
    assert len(password_checks) == 6


def test_failures_spread_over_more_than_the_lockout_period_do_not_lock(alice, clock):
    for _ in range(4):
        sign_in("alice", WRONG)
    clock.advance(901)
    for _ in range(4):
        response, _ = sign_in("alice", WRONG)
        assert INVALID in response.content.decode()
    _, signed_in = sign_in("alice", PASSWORD)
    assert signed_in


def test_a_successful_sign_in_clears_the_accounts_count(alice, clock):
    for _ in range(4):
        sign_in("alice", WRONG)
    _, signed_in = sign_in("alice", PASSWORD)
    assert signed_in
    for _ in range(4):
        response, _ = sign_in("alice", WRONG)
        assert INVALID in response.content.decode()
    _, signed_in = sign_in("alice", PASSWORD)
    assert signed_in
    assert not LoginFailure.objects.filter(scope="account", key="alice").exists()


def test_any_username_is_locked_alike_so_no_account_is_revealed(alice, clock):
    for name in ["nobody", "ALICE"]:
        for _ in range(5):
            sign_in(name, WRONG)
        response, _ = sign_in(name, WRONG)
        assert ACCOUNT_LOCKED in response.content.decode()
    # "ALICE" is the same account name, casefolded.
    response, signed_in = sign_in("alice", PASSWORD)
    assert not signed_in and ACCOUNT_LOCKED in response.content.decode()


def test_an_address_is_limited_across_usernames(alice, charlie, clock, password_checks):
    guesser = "192.0.2.7"
    for number in range(20):  # four per name: no account reaches its own limit
        response, _ = sign_in(f"user{number % 5}", WRONG, address=guesser)
        assert ACCOUNT_LOCKED not in response.content.decode()
    checked = len(password_checks)
    response, signed_in = sign_in("alice", PASSWORD, address=guesser)
    assert not signed_in
    assert f"{ADDRESS_LOCKED}; try again in 15 minutes." in response.content.decode()
    assert len(password_checks) == checked
    # Everyone else signs in as usual, and the guesser's own account does not reset its count.
    _, signed_in = sign_in("alice", PASSWORD, address="192.0.2.8")
    assert signed_in
    _, signed_in = sign_in("charlie", PASSWORD, address=guesser)
    assert not signed_in
    clock.advance(901)
    _, signed_in = sign_in("charlie", PASSWORD, address=guesser)
    assert signed_in


def test_the_admin_login_is_throttled_too(alice, clock, password_checks):
    User.objects.create_user("root", "root@example.org", PASSWORD, is_staff=True)
    for _ in range(3):
        response, _ = sign_in("root", WRONG, url=ADMIN)
        assert ADMIN_INVALID in response.content.decode()
    for _ in range(2):  # the pane's failures count for the same account
        sign_in("root", WRONG)
    response, signed_in = sign_in("root", PASSWORD, url=f"{ADMIN}?next=/admin/")
    assert not signed_in
    assert ACCOUNT_LOCKED in response.content.decode()
    assert len(password_checks) == 5
    clock.advance(901)
    response, signed_in = sign_in("root", PASSWORD, url=f"{ADMIN}?next=/admin/")
    assert signed_in and response.url == "/admin/"
    # A non-staff user with the right password is still turned away, as Django does.
    response, signed_in = sign_in("alice", PASSWORD, url=ADMIN)
    assert not signed_in and ADMIN_INVALID in response.content.decode()


def test_password_checks_wait_for_a_free_slot_then_are_refused(alice, settings):
    settings.OBJSTORE_LOGIN_CHECK_WAIT = 0
    slots = throttle._password_check_slots().slots
    assert slots.acquire(timeout=1)  # another request is hashing a password
    try:
        response, signed_in = sign_in("alice", PASSWORD)
    finally:
        slots.release()
    assert not signed_in and throttle.BUSY in response.content.decode()
    assert not LoginFailure.objects.exists()  # not counted as a failure
    _, signed_in = sign_in("alice", PASSWORD)
    assert signed_in


def test_only_a_few_sign_ins_wait_for_a_slot(alice, settings):
    """With every waiting place taken, a sign-in is refused at once instead of holding one
    more of the worker's threads for OBJSTORE_LOGIN_CHECK_WAIT seconds."""
    settings.OBJSTORE_LOGIN_CHECK_WAIT = 30
    places = throttle._password_check_slots().places
    taken = 0
    while places.acquire(blocking=False):
        taken += 1
    assert taken == 1 + throttle.WAITING_PER_SLOT
    try:
        started = time.monotonic()
        response, signed_in = sign_in("alice", PASSWORD)
        assert time.monotonic() - started < 5
    finally:
        for _ in range(taken):
            places.release()
    assert not signed_in and throttle.BUSY in response.content.decode()
    _, signed_in = sign_in("alice", PASSWORD)
    assert signed_in


def test_the_address_is_remote_addr_unless_proxies_are_trusted(settings):
    request = RequestFactory().post(
        PANE, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.4"
    )
    assert throttle.client_address(request) == "127.0.0.1"
    settings.OBJSTORE_LOGIN_TRUSTED_PROXIES = 1
    assert throttle.client_address(request) == "198.51.100.4"
    settings.OBJSTORE_LOGIN_TRUSTED_PROXIES = 2
    assert throttle.client_address(request) == "203.0.113.9"
    settings.OBJSTORE_LOGIN_TRUSTED_PROXIES = 3  # fewer entries than proxies: REMOTE_ADDR
    assert throttle.client_address(request) == "127.0.0.1"


def test_old_failures_are_swept(alice, clock, monkeypatch):
    sign_in("alice", WRONG)
    clock.advance(2 * 900 + 1)
    monkeypatch.setattr(throttle, "_last_sweep", 0.0)
    sign_in("nobody", WRONG)
    assert sorted(LoginFailure.objects.values_list("key", flat=True)) == ["10.0.0.1", "nobody"]
