"""The demo's audit page in a real browser: headless Chromium (Debian's ``chromium``,
installed by scripts/test) driven over the DevTools protocol by tests/browser.py.

It must load with no console message, error or blocked request; every chart must be
drawn at a readable size in the shape its viewBox sets; it must fit a phone's width
without the page scrolling sideways (a chart scrolls inside its own box rather than
shrink its text below 8 pixels); it must print on A4 with the navigation left out; and a
screenshot must come out. Without Chromium these tests are skipped, except under CI.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import Browser, chromium_path
from tests.conftest import DemoRun

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        message = "Chromium is not installed (scripts/test installs Debian's chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with Browser(executable) as running:
        yield running


@pytest.fixture(scope="module")
def page(demo_run: DemoRun) -> Path:
    return demo_run.directory / "report.html"


@pytest.fixture
def desktop(browser: Browser, page: Path) -> Browser:
    browser.events.clear()
    browser.open(page, width=1000, height=800)
    return browser


def figures_in(page: Path) -> int:
    return len(re.findall(r"<figure ", page.read_text(encoding="utf-8")))


def charts(browser: Browser) -> list[dict[str, float | str]]:
    return browser.evaluate("""
        Array.from(document.querySelectorAll('svg.chart')).map(svg => {
            const box = svg.getBoundingClientRect();
            const [, , w, h] = svg.getAttribute('viewBox').split(' ').map(Number);
            const named = svg.getAttribute('aria-labelledby').split(' ')
                .map(id => (document.getElementById(id) || {}).textContent || '');
            return {kind: svg.classList[1], width: box.width, height: box.height,
                    ratio: w / h, title: named[0], desc: named[1],
                    table: svg.closest('figure').querySelectorAll('tbody tr').length,
                    box: svg.parentElement.getBoundingClientRect().width};
        })""")  # fmt: skip


def test_the_page_loads_with_no_console_message_or_error(desktop: Browser) -> None:
    assert desktop.problems() == []
    assert desktop.evaluate("document.readyState") == "complete"
    assert desktop.evaluate("document.querySelectorAll('script').length") == 0


def test_every_chart_is_present_and_sized(desktop: Browser, page: Path) -> None:
    found = charts(desktop)
    assert len(found) == figures_in(page) == 7
    assert {c["kind"] for c in found} == {"chart-bars", "chart-histogram", "chart-lines",
                                          "chart-heatmap"}  # fmt: skip
    for chart in found:
        assert chart["width"] >= 600, chart  # the column's width at 1000 CSS pixels
        assert chart["height"] >= 150, chart
        assert abs(chart["width"] / chart["height"] - chart["ratio"]) < 0.02, chart


def test_every_chart_has_a_name_a_description_and_a_table(desktop: Browser) -> None:
    for chart in charts(desktop):
        assert chart["title"], chart
        assert len(str(chart["desc"])) > 40, chart
        assert chart["table"] > 0, chart


def test_a_screenshot_is_produced(desktop: Browser, tmp_path: Path) -> None:
    shot = desktop.screenshot(tmp_path / "page.png")
    data = shot.read_bytes()
    assert data[:8] == PNG_MAGIC
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert width == 1000
    assert height == desktop.evaluate("document.documentElement.scrollHeight")
    assert len(data) > 50_000  # a page of text and charts, not a blank


def test_the_page_fits_a_phone(browser: Browser, page: Path) -> None:
    browser.events.clear()
    browser.open(page, width=390, height=844, mobile=True)
    assert browser.problems() == []
    assert browser.evaluate("document.documentElement.scrollWidth") <= 390
    for chart in charts(browser):
        assert chart["box"] <= 390, chart  # the chart's box fits the screen ...
        # ... and the chart keeps its smallest text (10 of 640 units) at 8 CSS pixels or more,
        # scrolling sideways inside its box if it must
        assert chart["width"] * 10 / 640 >= 8, chart
    size = browser.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert size >= 14


def test_the_page_prints_on_a4_without_its_navigation(browser: Browser, page: Path,
                                                      tmp_path: Path) -> None:  # fmt: skip
    browser.open(page, width=1000, height=800)
    pdf = browser.pdf(tmp_path / "page.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    boxes = re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf)
    assert len(boxes) >= 3  # pages
    for width, height in boxes:  # A4 is 595 x 842 points
        assert abs(float(width) - 595.3) < 1
        assert abs(float(height) - 841.9) < 1
    browser.call("Emulation.setEmulatedMedia", session=True, media="print")
    try:
        assert browser.evaluate("getComputedStyle(document.querySelector('nav')).display") == "none"
        inside = browser.evaluate("getComputedStyle(document.querySelector('figure')).breakInside")
        assert inside == "avoid"
    finally:
        browser.call("Emulation.setEmulatedMedia", session=True, media="")


def test_the_browser_check_sees_errors_and_blocked_loads(browser: Browser, page: Path,
                                                         tmp_path: Path) -> None:  # fmt: skip
    """The checks above would catch a broken page: a script the page's policy blocks, and a
    script error, both show up as problems."""
    broken = tmp_path / "broken.html"
    text = page.read_text(encoding="utf-8")
    broken.write_text(text.replace("</body>", "<script>console.error('boom')</script></body>"))
    browser.events.clear()
    browser.open(broken)
    blocked = browser.problems()
    assert any("Content Security Policy" in p for p in blocked), blocked
    allowed = tmp_path / "allowed.html"
    allowed.write_text("<!DOCTYPE html><p>x</p><script>console.error('boom'); nope()</script>")
    browser.events.clear()
    browser.open(allowed)
    found = browser.problems()
    assert any(p.startswith("console.error") for p in found), found
    assert any(p.startswith("exception") for p in found), found
