"""ablation.html in a real headless Chromium: curves and tables render, no console errors, no network.

Mirrors tests/report/test_browser.py: needs the system Chromium and the `playwright` package;
skips cleanly when either is missing.
"""

from __future__ import annotations

import shutil

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def test_ablation_page_renders_in_chromium_without_errors(killed_and_resumed):
    if CHROMIUM is None:
        pytest.skip("no Chromium on PATH (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    url = (killed_and_resumed["out"] / "ablation.html").resolve().as_uri()
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
                    const lines = Array.from(s.querySelectorAll('polyline')).filter(l => l.getBBox().width > 0);
                    return {id: s.closest('section').id, w: r.width, h: r.height, lines: lines.length};
                })"""  # noqa: E501
            )
            sections = page.evaluate("() => Array.from(document.querySelectorAll('section')).map(s => s.id)")
            cells = page.evaluate("() => document.querySelectorAll('#final td').length")
            title = page.title()
        finally:
            browser.close()
    assert errors == []
    assert requests == [url]  # the page itself, nothing else
    assert "tiny-ablation" in title
    assert sections == ["overview", "arms", "curves", "final", "lineage"]
    assert [c["id"] for c in charts] == ["curves"]
    for c in charts:
        assert c["w"] > 100 and c["h"] > 100 and c["lines"] == 2, c  # one line per arm (one seed)
    assert cells >= 4
