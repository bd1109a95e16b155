"""The README's screenshots of the pane (issue 13), taken in Chromium against a live server
filled with demo data, so that they can be made again after the pane changes:

    .venv/bin/pytest tests/browser/screenshots.py -p no:cacheprovider

Not named ``test_*.py``: pytest collects it only when named. Each test writes one or two PNGs to
``static/objstore/screenshots/`` (1280x800 desktop or 390x844 phone, device scale 1, cropped to
the part that matters), after waiting for the page to be complete (network idle, the expected
rows, no running upload), and fails if the page throws or the file is over 150 KB.
"""

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from buckets.services import bucket_create, bucket_update_settings
from objects import services
from objects.lifecycle import validate_rules
from objects.models import Object, ObjectVersion

from .conftest import sign_in

pytestmark = pytest.mark.browser

OUT = Path(__file__).resolve().parents[2] / "static" / "objstore" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
MAX_BYTES = 150 * 1024
KiB, MiB = 1024, 1024 * 1024

# The "photos" bucket: (name, size, last modified, UTC).
PHOTOS = [
    ("README.md", 2 * KiB, "2024-01-08 10:02"),
    ("cat.png", 412 * KiB, "2025-07-28 18:40"),
    ("logo.svg", 6 * KiB, "2024-11-19 09:15"),
    ("2024/cat.png", 388 * KiB, "2024-02-11 16:20"),
    ("2024/beach-sunset.jpg", int(3.4 * MiB), "2024-07-21 20:47"),
    ("2024/family-dinner.jpg", int(2.8 * MiB), "2024-12-25 19:03"),
    ("2024/IMG_0421.heic", int(1.9 * MiB), "2024-08-03 11:12"),
    ("2024/IMG_0422.heic", int(2.1 * MiB), "2024-08-03 11:14"),
    ("2024/birthday-party.mp4", int(7.6 * MiB), "2024-10-12 15:31"),
    ("2024/report-2024-q1.csv", 48 * KiB, "2024-04-02 08:55"),
    ("2024/report-2024-q2.csv", 52 * KiB, "2024-07-01 09:10"),
    ("2024/report-2024-q3.csv", 61 * KiB, "2024-10-01 08:47"),
    ("2024/trip-itinerary.pdf", 236 * KiB, "2024-06-28 22:05"),
    ("2024/notes.md", 3 * KiB, "2024-12-30 17:26"),
    ("2024/summer/lake.jpg", int(2.2 * MiB), "2024-07-14 13:00"),
    ("2024/winter/snow.jpg", int(1.7 * MiB), "2024-12-02 10:30"),
    ("2025/new-year.jpg", int(2.6 * MiB), "2025-01-01 00:12"),
    ("2025/resolutions.md", 1 * KiB, "2025-01-02 09:40"),
    ("2025/report-2025-q1.csv", 57 * KiB, "2025-04-01 08:50"),
    ("backups/photos-2025-06-01.tar.gz", int(9.3 * MiB), "2025-06-01 03:00"),
    ("backups/photos-2025-07-01.tar.gz", int(9.8 * MiB), "2025-07-01 03:00"),
]
# Deleted before versioning is turned on: soft-deleted, listed on the Deleted files page.
DELETED = [
    ("old-logo.svg", 5 * KiB),
    ("screenshot-2025-03-14.png", 734 * KiB),
    ("todo.txt", 1 * KiB),
    ("2024/blurry.jpg", int(1.2 * MiB)),
    ("2024/cat-copy.png", 388 * KiB),
    ("drafts/intro.md", 4 * KiB),
    ("drafts/outline.md", 2 * KiB),
]
# notes.md, written three times with versioning on: (content, created, UTC).
NOTES = [
    (b"# Notes\n\n- buy a bigger SD card\n", "2025-05-02 21:14"),
    (
        b"# Notes\n\n- buy a bigger SD card\n- sort the 2024 photos into folders\n",
        "2025-06-14 08:31",
    ),
    (
        b"# Notes\n\n- buy a bigger SD card\n- sort the 2024 photos into folders\n"
        b"- back up to the NAS every month\n- print the beach sunset for the hall\n",
        "2025-07-20 19:05",
    ),
]
RULES = [
    {"action": {"type": "Delete"}, "condition": {"age": 365, "matchesPrefix": ["backups/"]}},
    {"action": {"type": "Delete"}, "condition": {"isLive": False, "numNewerVersions": 3}},
]
OTHER_BUCKETS = {
    "website-assets": [
        ("css/site.css", 18 * KiB),
        ("js/app.js", 96 * KiB),
        ("hero.webp", 420 * KiB),
    ]
    + [(f"icons/icon-{n}.svg", 2 * KiB) for n in range(12)],
    "app-logs": [(f"logs/2025-07-{day:02d}.log", (140 + 9 * day) * KiB) for day in range(1, 19)],
    "db-exports": [("exports/users.json", int(1.4 * MiB)), ("exports/orders.json", int(5.2 * MiB))],
}


def put(bucket, name: str, data: bytes):
    return services.object_upload(bucket=bucket, name=name, stream=io.BytesIO(data))


def filler(size: int) -> bytes:
    return (b"objstore demo data " * (size // 19 + 1))[:size]


def demo_file(name: str, size: int) -> bytes:
    """``size`` bytes; a PNG or JPEG is a real picture (a landscape in colours of its own, so
    that the listing shows thumbnails), padded with filler that decoders ignore."""
    fmt = {".png": "PNG", ".jpg": "JPEG"}.get(Path(name).suffix.lower())
    if fmt is None:
        return filler(size)
    from PIL import Image, ImageDraw

    seed = sum(name.encode())
    sky = (40 + seed % 120, 110 + seed % 90, 200 + seed % 50)
    image = Image.new("RGB", (320, 240), sky)
    draw = ImageDraw.Draw(image)
    draw.ellipse((200 - seed % 120, 30, 260 - seed % 120, 90), fill=(250, 210, 90))
    draw.polygon([(0, 240), (0, 150), (110, 95), (220, 160), (320, 120), (320, 240)], (60, 120, 70))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue() + filler(max(0, size - out.tell()))


def demo_pdf() -> bytes:
    """A two-page itinerary: a title, lines of text and a map-coloured box on each page."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=28)
    pages = []
    for number, (title, lines) in enumerate(ITINERARY, start=1):
        sheet = Image.new("RGB", (1240, 1754), "white")  # A4 at 150 dpi
        draw = ImageDraw.Draw(sheet)
        draw.text((110, 120), title, fill=(20, 40, 90), font=ImageFont.load_default(size=56))
        draw.rectangle((110, 220, 1130, 226), fill=(20, 90, 200))
        for row, line in enumerate(lines):
            draw.text((110, 280 + row * 52), line, fill=(30, 30, 30), font=font)
        draw.rounded_rectangle((110, 900, 1130, 1500), 24, fill=(214, 234, 248))
        draw.text((140, 930), f"Page {number}", fill=(20, 90, 200), font=font)
        pages.append(sheet)
    out = io.BytesIO()
    pages[0].save(out, "PDF", save_all=True, append_images=pages[1:], resolution=150)
    return out.getvalue()


ITINERARY = [
    (
        "Portugal, July 2024",
        [
            "Tue 2 July   Lisbon: Alfama, tram 28, dinner in Bairro Alto",
            "Wed 3 July   Sintra: Pena Palace, Quinta da Regaleira",
            "Thu 4 July   Train to Porto (3 h), Ribeira at sunset",
            "Fri 5 July   Douro valley by boat",
        ],
    ),
    (
        "Bookings",
        [
            "Hotel Lisboa Plaza, 2-4 July, ref. LP-20240702",
            "Comboios de Portugal, Alfa Pendular 131, coach 4",
            "Porto: Casa do Rio, 4-7 July",
        ],
    ),
]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def demo(alice):
    """Alice's buckets: "photos" (folders, deleted files, a file with three versions, lifecycle
    rules) and three smaller ones for the bucket list."""
    photos = bucket_create(owner=alice, name="photos")  # soft delete is on (7 days)
    for name, size in DELETED:
        put(photos, name, filler(size))
    for name, _ in DELETED:
        services.object_delete(bucket=photos, name=name)
    deleted = timezone.now() - timedelta(days=2, hours=3)
    ObjectVersion.objects.filter(bucket=photos).update(
        time_deleted=deleted,
        soft_delete_time=deleted,
        hard_delete_time=deleted + timedelta(days=7),
    )
    for name, size, modified in PHOTOS:
        put(photos, name, demo_pdf() if name.endswith(".pdf") else demo_file(name, size))
        Object.objects.filter(bucket=photos, name=name).update(
            created=utc(modified), updated=utc(modified)
        )
    photos = bucket_update_settings(
        bucket=photos, versioning=True, lifecycle_rules=validate_rules(RULES)
    )
    for text, _ in NOTES:
        put(photos, "notes.md", text)
    for version, (_, created) in zip(
        services.object_versions(bucket=photos, name="notes.md")[::-1], NOTES, strict=True
    ):
        version.created = version.updated = utc(created)
        version.save(update_fields=["created", "updated"])
    for old, (_, replaced) in zip(
        ObjectVersion.objects.filter(bucket=photos, name="notes.md").order_by("generation"),
        NOTES[1:],
        strict=True,
    ):
        old.time_deleted = utc(replaced)
        old.save(update_fields=["time_deleted"])
    for bucket_name, files in OTHER_BUCKETS.items():
        bucket = bucket_create(owner=alice, name=bucket_name)
        for name, size in files:
            put(bucket, name, demo_file(name, size))
    return photos


@pytest.fixture
def open_page(browser: Browser, server, alice):
    """``open_page(viewport, scheme)``: a signed-in page in a context of its own (UTC, en-US)
    that fails the test if the app's JavaScript throws."""
    contexts, errors = [], []

    def make(viewport=DESKTOP, scheme="light") -> Page:
        context = browser.new_context(
            base_url=server.url,
            viewport=viewport,
            device_scale_factor=1,
            color_scheme=scheme,
            locale="en-US",
            timezone_id="UTC",
        )
        contexts.append(context)
        sign_in(context, server, alice)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def browser_url(bucket, prefix: str = "") -> str:
    url = reverse("object_browser", args=[bucket.bucket_id])
    return f"{url}?prefix={prefix}" if prefix else url


def visit(page: Page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.ok, (url, response and response.status)


def settle(page: Page) -> None:
    page.wait_for_load_state("networkidle")
    page.evaluate("document.fonts.ready")
    expect(page.locator("h1")).to_be_visible()
    expect(page.locator(".htmx-request")).to_have_count(0)


def shoot(
    page: Page, name: str, *, bottom: str | None = None, only: str | None = None, margin: int = 12
) -> None:
    """Save the viewport as ``name``; with ``bottom``, the page from its top down to the bottom
    of that element; with ``only``, just that element (each with ``margin`` around it)."""
    settle(page)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    clip = None
    if bottom is not None or only is not None:
        box = page.locator(only or bottom).evaluate(
            """(el) => { const r = el.getBoundingClientRect();
                return {left: r.left, top: r.top + scrollY, right: r.right, bottom: r.bottom + scrollY}; }"""
        )
        if only is None:
            box.update(left=margin, top=margin, right=page.viewport_size["width"] - margin)
        clip = {
            "x": box["left"] - margin,
            "y": box["top"] - margin,
            "width": box["right"] - box["left"] + 2 * margin,
            "height": box["bottom"] - box["top"] + 2 * margin,
        }
    page.screenshot(
        path=str(path), clip=clip, full_page=clip is not None, animations="disabled", caret="hide"
    )
    size = path.stat().st_size
    assert size <= MAX_BYTES, f"{name} is {size} bytes"


def test_1_bucket_list(demo, open_page):
    page = open_page()
    visit(page, reverse("bucket_list"))
    expect(page.locator("#main a.bucket-link")).to_have_count(4)
    shoot(page, "1-bucket-list.png", bottom=".bucket-cards")


def test_2_file_browser_sorted_by_date(demo, open_page):
    page = open_page()
    visit(page, browser_url(demo, "2024/"))
    page.locator("#sort-date").click()
    expect(page).to_have_url(re.compile(r"sort=date&order=desc"))
    expect(page.locator("#listing tr.file-row")).to_have_count(11)
    shoot(page, "2-file-browser.png", bottom="#listing")


def test_3_upload_tray(demo, open_page, tmp_path):
    page = open_page()
    visit(page, browser_url(demo, "2025/"))
    settle(page)
    files = []
    for name, size in [
        ("fireworks.jpg", 180 * KiB),
        ("budget-2025.xlsx", 42 * KiB),
        ("packing-list.txt", 2 * KiB),
    ]:
        path = tmp_path / name
        path.write_bytes(filler(size))
        files.append(str(path))
    page.locator("#pick-files").set_input_files(files)
    expect(page.locator("#uploads li.upload.done")).to_have_count(3)
    expect(page.locator("#listing")).to_contain_text("fireworks.jpg")
    shoot(page, "3-upload-tray.png")


def test_4_delete_folder_dialog(demo, open_page):
    page = open_page()
    visit(page, browser_url(demo))
    page.get_by_role("button", name="Delete 2024/", exact=True).click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("2024/")
    shoot(page, "4-delete-folder.png", bottom="#listing")


def test_5_deleted_files(demo, open_page):
    page = open_page()
    visit(page, reverse("deleted_list", args=[demo.bucket_id]))
    expect(page.locator("#deleted tbody tr")).to_have_count(5)  # 2024/, drafts/ and 3 files
    shoot(page, "5-deleted-files.png", bottom="#deleted")


def test_6_versions(demo, open_page):
    page = open_page()
    visit(page, reverse("object_versions", args=[demo.bucket_id]) + "?name=notes.md")
    expect(page.locator("#versions tbody tr")).to_have_count(3)
    shoot(page, "6-versions.png", bottom="#versions")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_7_settings(demo, open_page, scheme):
    page = open_page(scheme=scheme)
    visit(page, reverse("bucket_settings", args=[demo.bucket_id]))
    expect(page.get_by_role("list", name="Lifecycle rules").get_by_role("listitem")).to_have_count(
        2
    )
    expect(page.get_by_test_id("preview-summary")).to_have_text(re.compile(r"^2 items"))
    suffix = "" if scheme == "light" else "-dark"
    shoot(page, f"7-settings{suffix}.png", bottom="section[aria-labelledby=protection-title]")
    if scheme == "light":
        shoot(page, "7-settings-lifecycle.png", only="section[aria-labelledby=lifecycle-title]")


def test_8_phone_more_menu(demo, open_page):
    page = open_page(PHONE)
    visit(page, browser_url(demo, "2024/"))
    settle(page)
    expect(page.locator("#listing tbody tr")).to_have_count(13)
    page.get_by_role("button", name="More actions").click()
    expect(page.locator("#more-actions")).to_be_visible()
    shoot(page, "8-phone-more-actions.png")


def test_9_phone_folder(demo, open_page):
    page = open_page(PHONE)
    visit(page, browser_url(demo, "2024/"))
    settle(page)
    expect(page.locator("#listing tbody tr")).to_have_count(13)
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, "9-phone-folder.png")


def test_10_details(demo, open_page):
    name = "2024/trip-expenses.csv"
    put(demo, name, b"date,place,amount\n2024-07-02,Lisbon,84.50\n2024-07-03,Porto,42.00\n")
    services.object_patch(
        bucket=demo,
        name=name,
        changes={"content_type": "text/csv"},
        metadata_patch={"owner": "alice", "trip": "portugal-2024"},
    )
    page = open_page()
    visit(page, reverse("object_details", args=[demo.bucket_id]) + f"?name={name}")
    expect(
        page.get_by_role("region", name="Preview of trip-expenses.csv, as a table")
    ).to_be_visible()
    shoot(page, "10-details.png", bottom="section[aria-labelledby=preview-title]")


def test_11_select_many(demo, open_page):
    page = open_page()
    visit(page, browser_url(demo, "2024/"))
    settle(page)
    rows = page.locator("#listing tr.file-row")
    for index in (0, 1, 3):
        rows.nth(index).get_by_role("checkbox").check()
    expect(page.locator("#bulk-status")).to_have_text("3 selected")
    page.get_by_role("button", name="Move…").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_contain_text("Move 3 files")
    dialog.get_by_label("To the folder").fill("2024/best/")
    shoot(page, "11-select-many.png", bottom="#listing")


def test_12_folder_move(demo, open_page, monkeypatch):
    from objects import folder_moves

    monkeypatch.setattr(folder_moves, "BATCH", 5)
    move = folder_moves.folder_move_start(bucket=demo, source="2024/", destination="2024-trips/")
    move = folder_moves.folder_move_step(move)
    folder_moves.folder_move_stop(move)
    page = open_page()
    visit(page, reverse("folder_move_page", args=[demo.bucket_id, move.pk]))
    expect(page.get_by_test_id("move-state")).to_contain_text("Stopped after 5 of")
    shoot(page, "12-folder-move.png", bottom="#move-progress")


def test_13_share_links(demo, open_page):
    from objects import shares

    shares.share_create(bucket=demo, name="notes.md", expiry="never", max_downloads=10)
    shares.share_create(bucket=demo, name="2024/", expiry="7d", password="family")
    page = open_page()
    visit(page, reverse("share_links", args=[demo.bucket_id]) + "?name=2024%2Fcat.png")
    page.get_by_label("Expires after").select_option(label="1 day")
    page.get_by_role("button", name="Make the link").click()
    expect(page.locator("#new-link-url")).to_be_visible()
    shoot(page, "13-share-links.png", bottom="section[aria-labelledby=links-title]")


def test_14_find(demo, open_page):
    page = open_page()
    visit(page, reverse("object_find", args=[demo.bucket_id]) + "?q=CAT&match=contains")
    expect(page.locator("#find-results tbody tr").first).to_be_visible()
    shoot(page, "14-find.png", bottom="#find-results")


def test_15_pdf_preview(demo, open_page):
    page = open_page()
    visit(
        page,
        reverse("object_details", args=[demo.bucket_id]) + "?name=2024%2Ftrip-itinerary.pdf",
    )
    expect(page.get_by_test_id("pdf-page")).to_have_text("Page 1 of 2")
    page.get_by_role("img", name="Page 1 of trip-itinerary.pdf").evaluate(
        """(img) => new Promise((done) => img.complete ? done()
            : img.addEventListener("load", () => done()))"""
    )
    page.locator("section[aria-labelledby=preview-title]").scroll_into_view_if_needed()
    shoot(page, "15-pdf-preview.png", only="section[aria-labelledby=preview-title]")
