"""The replay report in a real browser: Debian's headless Chromium, offline.

A small replay and a backtest write their reports; Chromium (Debian's ``chromium``,
driven through Debian's ``chromedriver``: no downloaded browser) opens each page with
every host name unresolvable, and the page must log no console error, ask for nothing
but itself, and draw every chart it declares (``<figure class="chart" data-panels=N>``):
N panels, each with coloured marks on screen. The charts declared are held to what the
run's outputs call for, so a chart left out is caught as well as one drawn empty; a
last test breaks pages on purpose to show that each check can fail.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from cli.generate import write_jsonl
from cli.main import main
from synthetic import Shift, generate
from tests.conftest import need
from tests.replay.test_replay import CONFIG

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CUSTOMERS, DAYS = 40, 40  # the smallest log whose replay has drift readings of every detector
MIN_MARKED_PIXELS = 50  # a line across a panel colours hundreds; an empty panel none
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}  # never fetched
KPI_HEADERS = ("conversion rate", "revenue per customer", "lapsed share")


@dataclass
class Chart:
    """A chart as the browser drew it."""

    name: str
    declared_panels: int
    width: float
    height: float
    marked: list[int] = field(default_factory=list)  # coloured pixels in each plot area


@dataclass
class Visit:
    """What opening a page did: console errors, what it asked for, what it drew."""

    errors: list[str]
    requests: list[str]
    charts: list[Chart]
    kpi_headers: list[str]


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        need("Debian's chromium and chromedriver (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # Offline: no host name resolves, so anything but a file:// load fails (and shows).
    for argument in ("--headless=new", "--no-sandbox", "--window-size=1400,1000",
                     "--host-resolver-rules=MAP * ~NOTFOUND", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report-browser")
    shift = Shift(0.5, "bargain_hunters", "high_value_loyal", 0.6)
    write_jsonl(generate(CUSTOMERS, DAYS, seed=3, shift=shift), root / "events.jsonl")
    (root / "small.toml").write_text(CONFIG)
    four = CONFIG.replace("[engine.learned]", "[engine.learned]\nn_segments = 4")
    (root / "four.toml").write_text(four)
    return root / "events.jsonl"


@pytest.fixture(scope="module")
def replay_out(log: Path) -> Path:
    out = log.parent / "replay"
    config = log.parent / "small.toml"
    code = main(["replay", str(log), "--out", str(out), "--config", str(config), "--no-progress"])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def backtest_out(log: Path) -> Path:
    out = log.parent / "backtest"
    configs = [
        arg for name in ("small", "four") for arg in ("--config", str(log.parent / f"{name}.toml"))
    ]
    assert main(["backtest", str(log), "--out", str(out), *configs, "--no-progress"]) == 0
    return out


def expected_charts(run: Path) -> list[tuple[str, int]]:
    """The charts a replay's report must have, from its outputs: sizes, changes (two
    panels: per day, per 1k events), and drift with a panel per detector that scored."""
    with (run / "drift.csv").open() as f:
        detectors = {row["detector"] for row in csv.DictReader(f)}
    summary = json.loads((run / "summary.json").read_text())
    # Drift is scored at sweeps, so readings mean a timeline; the run must have both.
    assert detectors and summary["events_accepted"] > 0, "the log is too small for a report"
    return [("sizes", 1), ("changes", 2), ("drift", len(detectors))]


def browser_log(driver: WebDriver, kind: str) -> list[dict[str, Any]]:
    """The browser's log entries of ``kind`` since the last call (reading empties it)."""
    entries: list[dict[str, Any]] = driver.get_log(kind)  # type: ignore[no-untyped-call]
    return entries


def visit(driver: WebDriver, page: Path) -> Visit:
    """Open ``page`` and gather what a reader would notice."""
    browser_log(driver, "browser"), browser_log(driver, "performance")  # drop what came before
    driver.get(page.as_uri())  # returns once the page has loaded
    errors = [e["message"] for e in browser_log(driver, "browser") if e["level"] == "SEVERE"]
    requests = []
    for entry in browser_log(driver, "performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    charts = [_chart(driver, e) for e in driver.find_elements(By.CSS_SELECTOR, "figure.chart")]
    headers = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "th") if h.is_displayed()]
    return Visit(errors, requests, charts, [h for h in headers if h in KPI_HEADERS])


def _chart(driver: WebDriver, element: WebElement) -> Chart:
    chart = Chart(
        element.get_attribute("data-chart") or "",
        int(element.get_attribute("data-panels") or 0),
        0.0,
        0.0,
    )
    svgs = element.find_elements(By.TAG_NAME, "svg")
    if len(svgs) != 1:
        return chart
    rect = svgs[0].rect
    chart.width, chart.height = rect["width"], rect["height"]
    for axes in svgs[0].find_elements(By.CSS_SELECTOR, "g[id*='-axes_']"):
        chart.marked.append(_marked_pixels(driver, axes))
    return chart


def _marked_pixels(driver: WebDriver, axes: WebElement) -> int:
    """Coloured pixels on screen within a panel's plot area (its background patch, the
    first thing matplotlib draws in it): the data. Axes, text and thresholds are grey;
    the legends sit outside the plot area."""
    try:
        area = axes.find_element(By.XPATH, "./*[1]")
    except NoSuchElementException:
        return 0
    size = area.rect
    if "patch" not in (area.get_attribute("id") or "") or not (size["width"] and size["height"]):
        return 0
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", area)
    r, g, b = Image.open(io.BytesIO(area.screenshot_as_png)).convert("RGB").split()
    high = ImageChops.lighter(ImageChops.lighter(r, g), b)
    low = ImageChops.darker(ImageChops.darker(r, g), b)
    chroma = ImageChops.subtract(high, low).histogram()  # grey is 0, a palette colour > 60
    return sum(chroma[61:])


def problems(seen: Visit, page: Path, expected: list[tuple[str, int]]) -> list[str]:
    """Everything wrong with a visit, one line each; none for a page that works."""
    found = [f"console: {error}" for error in seen.errors]
    found += [f"asked for {url}" for url in seen.requests if url != page.as_uri()]
    declared = [(c.name, c.declared_panels) for c in seen.charts]
    if declared != expected:
        found.append(f"charts declared {declared}, the run calls for {expected}")
    for chart in seen.charts:
        if not (chart.width > 0 and chart.height > 0):
            found.append(f"{chart.name}: drawn {chart.width} x {chart.height}")
        if len(chart.marked) != chart.declared_panels:
            drawn, panels = len(chart.marked), chart.declared_panels
            found.append(f"{chart.name}: {drawn} panels drawn, {panels} declared")
        for i, marked in enumerate(chart.marked, 1):
            if marked < MIN_MARKED_PIXELS:
                found.append(f"{chart.name}: panel {i} drew nothing ({marked} coloured pixels)")
    return found


def static_problems(page: Path) -> list[str]:
    """What in the HTML itself would load something, or fail to, offline."""
    text = page.read_text()
    tags = re.findall(r"<(script|link|iframe|img|object|embed)\b", text)
    found = [f"element <{tag}>" for tag in tags]
    addresses = set(re.findall(r"https?://[^\"'\s<>)]*", text)) - NAMESPACES
    found += [f"address {url}" for url in sorted(addresses)]
    found += [f"reference {ref}" for ref in re.findall(r'(?:src|href)\s*=\s*"(?!#)[^"]*"', text)]
    found += [f"reference {ref}" for ref in re.findall(r"url\((?!#)[^)]*\)|@import", text)]
    return found


def test_the_replay_report_draws_every_chart_offline(browser: WebDriver, replay_out: Path) -> None:
    page = replay_out / "report.html"
    assert static_problems(page) == []
    seen = visit(browser, page)
    assert problems(seen, page, expected_charts(replay_out)) == []
    assert seen.requests == [page.as_uri()]  # the page itself, and nothing else
    assert seen.kpi_headers == list(KPI_HEADERS)  # the profiles' KPIs, on screen


def test_the_backtest_report_draws_the_comparison_and_every_run(
    browser: WebDriver, backtest_out: Path
) -> None:
    page = backtest_out / "report.html"
    assert static_problems(page) == []
    expected = [("comparison", 2), *expected_charts(backtest_out / "small")]
    expected += expected_charts(backtest_out / "four")
    seen = visit(browser, page)
    assert problems(seen, page, expected) == []
    assert seen.kpi_headers == list(KPI_HEADERS) * 2


BREAKAGES: dict[str, tuple[str, str]] = {
    # name: (HTML put before </body>, what the checks must then say)
    "a script error": ("<script>undefined_function()</script>", "console: "),
    "a CDN script": (
        '<script src="https://cdn.example.com/plotly.min.js"></script>',
        "asked for https://cdn.example.com/plotly.min.js",
    ),
    "a chart that draws nothing": (
        "<style>[data-chart=changes] [id*=line2d] {display: none}</style>",
        "changes: panel 1 drew nothing",
    ),
    "a chart hidden": ("<style>[data-chart=drift] {display: none}</style>", "drift: drawn 0"),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_the_checks_catch_a_broken_page(
    browser: WebDriver, replay_out: Path, tmp_path: Path, breakage: str
) -> None:
    injected, said = BREAKAGES[breakage]
    page = tmp_path / "report.html"
    text = (replay_out / "report.html").read_text()
    page.write_text(text.replace("</body>", injected + "</body>"))
    found = problems(visit(browser, page), page, expected_charts(replay_out))
    assert any(line.startswith(said) for line in found), found
    if "<script" in injected:
        assert static_problems(page)


def test_a_chart_left_out_of_the_page_is_caught(
    browser: WebDriver, replay_out: Path, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    text = (replay_out / "report.html").read_text()
    drift = re.compile(r'<figure class="chart" data-chart="drift".*?</figure>', re.S)
    page.write_text(drift.sub("", text))
    found = problems(visit(browser, page), page, expected_charts(replay_out))
    assert any(line.startswith("charts declared") for line in found), found
