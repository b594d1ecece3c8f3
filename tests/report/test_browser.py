"""report.html in a real headless Chromium: charts render, no console errors, no network.

Needs the system Chromium (Debian: `apt-get install -y chromium`) and the `playwright` Python
package (dev extra; its bundled driver drives the system browser, nothing is downloaded).
Skips cleanly when either is missing.
"""

from __future__ import annotations

import shutil

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def test_report_renders_in_chromium_without_errors(finished_run):
    if CHROMIUM is None:
        pytest.skip("no Chromium on PATH (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    report = finished_run / "report.html"
    url = report.resolve().as_uri()
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on(
                "console",
                lambda m: (
                    errors.append(f"console.{m.type}: {m.text}") if m.type in ("error", "warning") else None
                ),
            )
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            page.on("requestfailed", lambda r: errors.append(f"requestfailed: {r.url}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url, wait_until="load")
            charts = page.evaluate(
                """() => Array.from(document.querySelectorAll('svg.chart')).map(s => {
                    const r = s.getBoundingClientRect();
                    const bars = Array.from(s.querySelectorAll('rect')).filter(b => b.getBBox().width > 0 && b.getBBox().height > 0);
                    return {id: s.closest('section').id, w: r.width, h: r.height, bars: bars.length};
                })"""  # noqa: E501
            )
            sections = page.evaluate("() => Array.from(document.querySelectorAll('section')).map(s => s.id)")
            title = page.title()
        finally:
            browser.close()
    assert errors == []
    assert requests == [url]  # the page itself, nothing else
    assert "report-demo" in title
    assert {"funnel", "reasons", "lengths", "time"} <= {c["id"] for c in charts}
    for c in charts:
        assert c["w"] > 100 and c["h"] > 20 and c["bars"] >= 1, c
    assert sections[:2] == ["overview", "funnel"]
