"""XSS through every place the pane shows a name or metadata, opened in a real Chromium.

Buckets, folders, objects, content types, metadata and token names are named with script
payloads; every page that shows them is opened with a dialog recorder attached. No alert may
fire, no script error may happen (the ``page`` fixture fails the test on one), and the payload
must read back literally: escaped, not executed, not evaluated as a template.
"""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from buckets.services import bucket_create
from buckets.tokens import token_create
from objects import services
from objects.models import Object

from ..conftest import put

pytestmark = pytest.mark.browser


IMG = "<img src=x onerror=alert(1)>"
SCRIPT = '"><script>alert(1)</script>'
JS_URL = "javascript:alert(1)"
TEMPLATE = "{{7*7}}"
QUOTES = "';alert(1);'"
PAYLOADS = [IMG, SCRIPT, JS_URL, TEMPLATE, QUOTES]
# Payloads without "/" (one path segment: a file's base name or a folder's label).
SEGMENTS = [IMG, JS_URL, TEMPLATE, QUOTES, "<svg onload=alert(1)>"]


class Dialogs:
    """Every dialog the page opens. Confirmations the test asks for are accepted and kept;
    anything else (an alert or prompt) is what a payload would do."""

    def __init__(self, page: Page) -> None:
        self.seen: list[tuple[str, str]] = []
        page.on("dialog", self._handle)

    def _handle(self, dialog) -> None:
        self.seen.append((dialog.type, dialog.message))
        if dialog.type == "confirm":
            dialog.accept()
        else:
            dialog.dismiss()

    def assert_no_script_ran(self) -> None:
        ran = [(kind, message) for kind, message in self.seen if kind != "confirm"]
        assert ran == [], f"a payload ran: {ran}"

    @property
    def confirms(self) -> list[str]:
        return [message for kind, message in self.seen if kind == "confirm"]


def _text(page: Page) -> str:
    return page.locator("body").inner_text()


def _no_injected_elements(page: Page) -> None:
    """No element a payload would create exists in the DOM (an <img src=x>, a stray script,
    an <svg onload>), and no link's href is a javascript: URL."""
    injected = page.evaluate(
        """() => ({
            img: document.querySelectorAll('img[src="x"]').length,
            svg: document.querySelectorAll('svg[onload]').length,
            inline: [...document.scripts].filter(s => s.textContent.includes('alert')).length,
            jsLinks: [...document.querySelectorAll('[href], [src], [action]')].filter(e =>
                /^\\s*javascript:/i.test(e.getAttribute('href') || e.getAttribute('src')
                                        || e.getAttribute('action') || '')).length,
            handlers: [...document.querySelectorAll('*')].filter(e =>
                [...e.attributes].some(a => /^on/i.test(a.name))).length,
        })"""
    )
    assert injected == {"img": 0, "svg": 0, "inline": 0, "jsLinks": 0, "handlers": 0}, injected


def _visit(page: Page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)
    page.wait_for_load_state("load")
    _no_injected_elements(page)


@pytest.fixture
def xss_bucket(alice):
    bucket = bucket_create(owner=alice, name=IMG)
    for payload in PAYLOADS[1:]:
        bucket_create(owner=alice, name=payload)
    for segment in SEGMENTS:
        put(bucket, f"{segment}.txt", b"x", content_type="text/plain")
        put(bucket, f"{segment}/{segment}/inside.txt", b"x")
    put(bucket, f"{SCRIPT}.txt", b"x")
    obj = put(bucket, "typed.txt", b"x", content_type=f"text/plain; x={IMG}")
    Object.objects.filter(pk=obj.pk).update(metadata={IMG: SCRIPT, "k": TEMPLATE})
    return bucket


def test_listing_breadcrumbs_sidebar_and_title_show_payloads_literally(
    alice_page: Page, xss_bucket
):
    page = alice_page
    dialogs = Dialogs(page)
    url = reverse("object_browser", args=[xss_bucket.bucket_id])

    _visit(page, url)
    text = _text(page)
    for segment in SEGMENTS:
        assert f"{segment}.txt" in text
        assert f"{segment}/" in text  # the folder row
    for payload in PAYLOADS:
        assert payload in text  # the sidebar lists every bucket by name
    assert f"text/plain; x={IMG}" in text
    # {{ 7*7 }} never ran: no name reads "49" where the payload was (times and counts may
    # hold "49" of their own, e.g. 23:49).
    assert "49.txt" not in text and "49/" not in text
    assert page.title().startswith(IMG)

    # Into each folder, two levels down: breadcrumbs and the title carry the payload.
    for segment in SEGMENTS:
        prefix = f"{segment}/{segment}/"
        folder = page.locator("#listing").get_by_role("link", name=f"{segment}/", exact=True)
        folder.click()
        expect(page.locator(".crumbs")).to_contain_text(segment)
        page.locator("#listing").get_by_role("link", name=f"{segment}/", exact=True).click()
        expect(page.locator("#listing")).to_contain_text("inside.txt")
        _no_injected_elements(page)
        _visit(page, f"{url}?prefix={_quote(prefix)}")
        crumbs = page.locator(".crumbs li").all_inner_texts()
        assert crumbs == [IMG, segment, segment]
        assert prefix in page.title()
        page.goto(url)

    # The folder with the script payload in its name ("\"><script>alert(1)<" + "/...").
    _visit(page, f"{url}?prefix={_quote(SCRIPT.split('/')[0] + '/')}")
    assert "script>.txt" in _text(page)
    dialogs.assert_no_script_ran()


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def test_settings_tab_and_its_delete_form_show_the_bucket_name_literally(
    alice_page: Page, xss_bucket
):
    page = alice_page
    dialogs = Dialogs(page)
    for payload in PAYLOADS:
        bucket = xss_bucket if payload == IMG else xss_bucket.owner.buckets.get(name=payload)
        _visit(page, reverse("bucket_settings", args=[bucket.bucket_id]))
        expect(page.locator("h1.bucket-title")).to_have_text(payload)
        expect(page.locator(".danger-zone")).to_contain_text(f"Type {payload} to confirm")
        # A wrong confirmation: the form comes back with its error, the name still inert.
        page.locator(".danger-zone input[name=confirm_name]").fill(payload + "!")
        with page.expect_navigation():
            page.evaluate("document.querySelector('.danger-zone form').submit()")
        _no_injected_elements(page)
        expect(page.locator("h1.bucket-title")).to_have_text(payload)
    dialogs.assert_no_script_ran()


def test_delete_confirmations_and_messages_show_names_literally(alice_page: Page, xss_bucket):
    page = alice_page
    dialogs = Dialogs(page)
    url = reverse("object_browser", args=[xss_bucket.bucket_id])
    _visit(page, url)

    # The in-page dialog names the object; the success message names it again.
    dialog = page.locator("#confirm-dialog")
    row = page.locator("tr.file-row").filter(has_text=f"{IMG}.txt")
    row.get_by_role("button", name=f"Delete {IMG}.txt").click()
    expect(dialog.locator("h2")).to_have_text(f"Delete “{IMG}.txt”?")
    expect(dialog).to_contain_text("Deleted files can be restored for 7 days.")
    _no_injected_elements(page)
    dialog.get_by_role("button", name="Delete", exact=True).click()
    expect(page.locator("#toasts .message")).to_contain_text(f"Deleted “{IMG}.txt”.")
    _no_injected_elements(page)

    folder = page.locator("tr.folder-row").filter(has_text=f"{TEMPLATE}/")
    folder.get_by_role("button", name=f"Delete {TEMPLATE}/").click()
    expect(dialog.locator("h2")).to_have_text(f"Delete the folder “{TEMPLATE}/”?")
    _no_injected_elements(page)
    dialog.get_by_role("button", name="Delete", exact=True).click()
    expect(page.locator("#toasts .message")).to_contain_text(f"Deleted folder “{TEMPLATE}/”")
    _no_injected_elements(page)

    # The confirmation page (what the pane shows without JavaScript), opened with it.
    for field, target, title in (
        ("name", f"{JS_URL}.txt", f"Delete “{JS_URL}.txt”?"),
        ("folder", f"{QUOTES}/", f"Delete the folder “{QUOTES}/”?"),
    ):
        action = "object_delete" if field == "name" else "folder_delete"
        page.evaluate(
            """([action, field, target]) => {
                const form = document.createElement('form');
                form.method = 'post';
                form.action = action;
                for (const [name, value] of [
                    [field, target], ['prefix', ''],
                    ['csrfmiddlewaretoken',
                     document.querySelector('[name=csrfmiddlewaretoken]').value]]) {
                    const input = document.createElement('input');
                    input.type = 'hidden'; input.name = name; input.value = value;
                    form.appendChild(input);
                }
                document.body.appendChild(form);
                form.submit();
            }""",
            [reverse(action, args=[xss_bucket.bucket_id]), field, target],
        )
        expect(page.locator("#confirm-title")).to_have_text(title)
        _no_injected_elements(page)
        page.get_by_role("button", name="Delete", exact=True).click()
        expect(page.locator(".message")).to_contain_text(target)
        _no_injected_elements(page)

    # Creating a folder through the form: its message, its row.
    for name in (IMG, TEMPLATE, QUOTES):
        page.get_by_role("button", name="Create folder").click()
        page.get_by_label("Folder name").fill(f"new {name}")
        page.locator("#new-folder").get_by_role("button", name="Create").click()
        expect(page.locator("#toasts .message")).to_contain_text(f"Created folder “new {name}/”.")
        expect(page.locator("#listing")).to_contain_text(f"new {name}/")
        _no_injected_elements(page)
    dialogs.assert_no_script_ran()


def test_uploads_named_with_payloads_show_literally_while_and_after_uploading(
    alice_page: Page, xss_bucket
):
    page = alice_page
    dialogs = Dialogs(page)
    _visit(page, reverse("object_browser", args=[xss_bucket.bucket_id]))
    files = [
        {"name": f"up {segment}.txt", "mimeType": "text/plain", "buffer": b"up"}
        for segment in SEGMENTS
    ]
    page.locator("#pick-files").set_input_files(files)
    rows = page.locator("#uploads li.upload")
    expect(rows).to_have_count(len(files))
    for row in rows.all():
        expect(row.locator(".upload-status")).to_have_text("Uploaded")
    assert sorted(rows.locator(".upload-name").all_inner_texts()) == sorted(
        f["name"] for f in files
    )
    for segment in SEGMENTS:
        expect(page.locator("#listing")).to_contain_text(f"up {segment}.txt")
        assert services.object_get(bucket=xss_bucket, name=f"up {segment}.txt").size == 2
    _no_injected_elements(page)
    dialogs.assert_no_script_ran()


def test_bucket_list_and_create_message_show_names_literally(alice_page: Page, alice):
    page = alice_page
    dialogs = Dialogs(page)
    _visit(page, reverse("bucket_list"))
    for payload in PAYLOADS:
        page.get_by_label("Bucket name").fill(payload)
        page.get_by_role("button", name="Create a Bucket").click()
        expect(page.get_by_role("status").first).to_contain_text(f"Created bucket “{payload}”.")
        expect(page.locator("h1.bucket-title")).to_have_text(payload)
        _no_injected_elements(page)
        page.goto(reverse("bucket_list"))
    cards = page.locator(".bucket-cards .bucket-link").all_inner_texts()
    assert sorted(cards) == sorted(PAYLOADS)
    # A duplicate name: the form's error repeats it.
    page.get_by_label("Bucket name").fill(IMG)
    page.get_by_role("button", name="Create a Bucket").click()
    expect(page.locator(".field-error")).to_contain_text(
        f"You already have a bucket named “{IMG}”."
    )
    _no_injected_elements(page)
    dialogs.assert_no_script_ran()


def test_tokens_page_shows_token_names_literally(alice_page: Page, alice, xss_bucket):
    page = alice_page
    dialogs = Dialogs(page)
    for payload in (SCRIPT, TEMPLATE):
        token_create(owner=alice, name=payload, bucket=xss_bucket)
    _visit(page, reverse("token_list"))
    # A new token through the form: the "shown once" card names it.
    page.get_by_label("Token name").fill(IMG)
    page.get_by_role("button", name="Create token").click()
    expect(page.locator(".new-token h2")).to_have_text(f"Your new token “{IMG}”")
    _no_injected_elements(page)
    rows = page.locator("table.objects tbody tr")
    expect(rows).to_have_count(3)
    text = page.locator("table.objects").inner_text()
    for payload in (IMG, SCRIPT, TEMPLATE):
        assert payload in text
    assert f"{IMG} only" in text  # the limited tokens name their bucket
    # Revoking asks with the name, and the message repeats it.
    page.get_by_role("button", name=f"Revoke {SCRIPT}").click()
    expect(page.get_by_role("status").first).to_contain_text(f"Revoked the token “{SCRIPT}”.")
    assert dialogs.confirms == [f"Revoke “{SCRIPT}”? Programs using it stop working."]
    _no_injected_elements(page)
    dialogs.assert_no_script_ran()


def test_admin_pages_show_names_and_metadata_literally(alice_page: Page, alice, xss_bucket):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    page = alice_page
    dialogs = Dialogs(page)
    typed = Object.objects.get(bucket=xss_bucket, name="typed.txt")
    for url in (
        "/admin/objects/object/",
        f"/admin/objects/object/{typed.pk}/change/",
        "/admin/buckets/bucket/",
        f"/admin/buckets/bucket/{xss_bucket.pk}/change/",
        "/admin/buckets/apitoken/",
        "/admin/objects/object/?q=" + _quote(IMG),
    ):
        page.goto(url)
        page.wait_for_load_state("load")
        assert re.search(r"/admin/", page.url)
        _no_injected_elements(page)
    dialogs.assert_no_script_ran()
