"""axe-core (installed by npm from package-lock.json) on every page of the pane: no serious or
critical violation, in light and dark, on a desktop (1440 px) and a phone (390 px).

axe is put into the page with ``page.evaluate``, which the page's Content-Security-Policy (no
inline script) does not govern.
"""

from pathlib import Path

import pytest
from django.urls import reverse

from .conftest import sign_in
from .test_layout import DESKTOP, PHONE, fill, pane_pages

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page) -> list[str]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    result = page.evaluate(
        """() => axe.run(document, {resultTypes: ['violations']}).then((r) => r.violations
            .filter((v) => v.impact === 'serious' || v.impact === 'critical')
            .map((v) => `${v.impact} ${v.id}: ${v.help} at ` +
                 v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')))"""
    )
    return result


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_no_serious_axe_violation_on_any_page(browser, server, alice, bucket, scheme, viewport):
    assert AXE.exists(), "npm ci installs axe-core (package.json's devDependencies)"
    fill(bucket, alice)
    context = browser.new_context(base_url=server.url, viewport=viewport, color_scheme=scheme)
    try:
        page = context.new_page()
        found = {}
        page.goto(reverse("login"))
        found["login"] = axe_violations(page)
        sign_in(context, server, alice)
        for label, path in pane_pages(bucket).items():
            page.goto(path)
            page.wait_for_load_state("networkidle")
            found[label] = axe_violations(page)
        if viewport == PHONE:
            page.goto(pane_pages(bucket)["browser"])
            page.locator(".bucket-switcher summary").click()
            found["bucket switcher open"] = axe_violations(page)
        assert {label: v for label, v in found.items() if v} == {}
    finally:
        context.close()
