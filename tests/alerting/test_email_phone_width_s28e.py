"""An incident email read on a phone (390 px) does not scroll sideways, in headless Chromium.

The plots were ``<img width="480">`` with nothing to shrink them and the alert table could
not get narrower than its six columns, so at 390 px the whole mail (summary, links, plots)
scrolled sideways by 100-160 px and the text ran off the right edge. The mail comes from a
real SMTP server; its inline plots are resolved to data URIs as a mail client would.
"""

from __future__ import annotations

import base64
from email.message import EmailMessage
from pathlib import Path

import pytest

from modelhealth.alerting.mailbox import LocalMailbox
from modelhealth.clock import FakeClock

from .conftest import firing
from .test_email import _drift_dispatcher

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")


def _html_with_images(msg: EmailMessage) -> str:
    body = msg.get_body(("html",))
    assert body is not None
    html = body.get_content()
    for part in msg.walk():
        if part.get_content_type() == "image/png":
            cid = part["Content-ID"].strip("<>")
            data = base64.b64encode(part.get_content()).decode()
            assert f"cid:{cid}" in html
            html = html.replace(f"cid:{cid}", f"data:image/png;base64,{data}")
    return html


def test_incident_email_fits_a_phone_screen(
    mailbox: LocalMailbox, clock: FakeClock, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: run scripts/ensure_chromium.sh")
    from playwright.sync_api import sync_playwright

    d = _drift_dispatcher(mailbox, clock)
    alerts = [
        firing("feature_drift", severity="warning", feature="amount", value=0.42),
        firing("latency_p99", severity="critical", metric="latency_p99", value=180.0),
    ]
    for _ in range(3):
        d(alerts, clock.advance(seconds=30))
    (msg,) = mailbox.messages()
    assert len([p for p in msg.walk() if p.get_content_type() == "image/png"]) == 2
    page_file = tmp_path / "mail.html"
    page_file.write_text(_html_with_images(msg), encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            widths = {}
            for width in (390, 1000):
                page = browser.new_page(viewport={"width": width, "height": 800})
                page.goto(page_file.as_uri())
                widths[width] = page.evaluate(
                    "[document.documentElement.scrollWidth,"
                    " Math.max(...[...document.images].map(i => i.getBoundingClientRect().right)),"
                    " Math.min(...[...document.images].map(i => i.naturalWidth))]"
                )
                page.close()
        finally:
            browser.close()
    page_width, images_right, natural = widths[390]
    assert natural > 390  # the plots are wider than the phone: they must shrink to fit
    assert page_width <= 390, f"the mail scrolls sideways on a phone: {page_width} px wide"
    assert images_right <= 390, f"a plot runs {images_right - 390:.0f} px off the screen"
    assert widths[1000][0] <= 1000  # and a desktop view is unchanged: nothing overflows
