"""The HTML coverage report as a person sees it: `pgsync report` against the emulator, opened in
headless Chromium (Debian's package, driven by Playwright): the matrix, the filter box, sorting,
the page without JavaScript, and that it asks the network for nothing.

Screenshots are kept in tests/artifacts/ (ignored by git) and their paths printed; with
UPDATE_SCREENSHOT=1 the README's docs/report.png is rewritten from the same page.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from playwright.sync_api import (
    Browser,
    FloatRect,
    Locator,
    Page,
    ViewportSize,
    sync_playwright,
)

from pgsync.cli.main import cli
from pgsync.emulator import EmulatorServer, fixture_from_dict

ROOT = Path(__file__).parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
README_SCREENSHOT = ROOT / "docs" / "report.png"
CHROMIUM = shutil.which("chromium")
# Read at import: the autouse clean_environment fixture removes CI from every test's environment.
IN_CI = os.environ.get("CI") == "true"
UPDATE_SCREENSHOT = os.environ.get("UPDATE_SCREENSHOT") == "1"
EPOCH = "1798761600"  # 2027-01-01 00:00 UTC: the report's time, the same in every run
VIEWPORT: ViewportSize = {"width": 1100, "height": 800}


def env_rule(env: str) -> dict[str, Any]:
    """The service's stack rule `tag env == ENV`."""
    return {
        "__type": "PermissionExpressionEqual",
        "left": {
            "__type": "PermissionExpressionTag",
            "context": {"__type": "PermissionExpressionStack"},
            "key": "env",
        },
        "right": {"__type": "PermissionLiteralExpressionString", "value": env},
    }


def pack(name: str, version: str, level: str) -> dict[str, Any]:
    return {"name": name, "versionTag": version, "config": {"all": {"enforcementLevel": level}}}


ORG = {
    "organizations": {
        "acme": {
            "stacks": [
                {"name": "payments/prod", "tags": {"env": "prod"}},
                {"name": "payments/staging", "tags": {"env": "staging"}},
                {"name": "web/prod", "tags": {"env": "prod"}},
                {"name": "web/staging", "tags": {"env": "staging"}},
                {"name": "web/dev", "tags": {"env": "dev"}},
                {"name": "data/prod", "tags": {"env": "prod"}},
                "ml/train",
                "ops/tools",
            ],
            "policyPacks": [
                {"name": "aws-guardrails", "versionTags": ["1.0.0", "1.3.0"]},
                {"name": "cost-controls", "versionTags": ["2.0.0"]},
                {"name": "best-practices", "versionTags": ["1.0.0"]},
                {"name": "pci-dss", "versionTags": ["4.0.0"]},
            ],
            "policyGroups": [
                {
                    "name": "default-policy-group",
                    "policyPacks": [pack("best-practices", "1.0.0", "advisory")],
                },
                {
                    "name": "production",
                    "stacks": ["payments/prod", "web/prod", "data/prod"],
                    "policyPacks": [pack("aws-guardrails", "1.0.0", "mandatory")],
                },
                {
                    "name": "payments",
                    "stacks": ["payments/prod", "payments/staging"],
                    "policyPacks": [pack("pci-dss", "4.0.0", "mandatory")],
                },
                {
                    "name": "staging",
                    "stackMatchRule": env_rule("staging"),
                    "policyPacks": [pack("aws-guardrails", "1.3.0", "advisory")],
                },
                {"name": "audit-dev", "mode": "audit", "stacks": ["web/dev"]},
                {"name": "tools", "stacks": ["ops/tools"]},
            ],
        }
    }
}

# The change under review: production moves to aws-guardrails 1.3.0 and adds cost controls,
# takes ml/train in and lets data/prod go (to the default group); staging becomes mandatory.
FILES = """\
organization: acme
policyGroups:
  - name: production
    stacks: [payments/prod, web/prod, ml/train]
    policyPacks:
      - name: aws-guardrails
        versionTag: "1.3.0"
        enforcementLevel: mandatory
      - name: cost-controls
        versionTag: "2.0.0"
        enforcementLevel: advisory
  - name: staging
    stackMatch:
      - env: staging
    policyPacks:
      - name: aws-guardrails
        versionTag: "1.3.0"
        enforcementLevel: mandatory
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium: no browser download (no `playwright install`), no network."""
    if CHROMIUM is None:
        reason = "no chromium on PATH: apt-get install chromium (what .ci/run does)"
        if IN_CI:
            pytest.fail(f"the browser test must run in CI, but there is {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of ORG with FILES, written by the CLI as a user runs it."""
    folder = tmp_path_factory.mktemp("report")
    files = folder / "policygroups.yaml"
    files.write_text(FILES, encoding="utf-8")
    out = folder / "report.html"
    with EmulatorServer(fixture_from_dict(ORG)) as server:
        result = CliRunner().invoke(
            cli,
            ["report", str(files), "--out", str(out), "--api-url", server.url],
            env={"SOURCE_DATE_EPOCH": EPOCH, "PULUMI_ACCESS_TOKEN": None, "CI": None},
        )
    assert result.exit_code == 0, result.output
    return out


def open_report(browser: Browser, report_file: Path, *, javascript: bool = True) -> Page:
    context = browser.new_context(viewport=VIEWPORT, java_script_enabled=javascript)
    page = context.new_page()
    page.goto(report_file.as_uri())
    return page


@pytest.fixture
def page(browser: Browser, report_file: Path) -> Iterator[Page]:
    opened = open_report(browser, report_file)
    yield opened
    opened.context.close()


@pytest.fixture
def page_without_javascript(browser: Browser, report_file: Path) -> Iterator[Page]:
    opened = open_report(browser, report_file, javascript=False)
    yield opened
    opened.context.close()


def keep_screenshot(
    page: Page, name: str, capsys: pytest.CaptureFixture[str], *, clip_to: str | None = None
) -> Path:
    """Save the page in tests/artifacts/NAME and say where, even under pytest -q.

    The whole page, or with `clip_to` from its top to the bottom of that element.
    """
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    if clip_to is None:
        page.screenshot(path=str(path), full_page=True)
    else:
        box = page.locator(clip_to).bounding_box()
        assert box is not None, f"{clip_to} is not shown"
        bottom = box["y"] + box["height"] + 16
        clip: FloatRect = {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": bottom}
        page.screenshot(path=str(path), full_page=True, clip=clip)
    with capsys.disabled():
        print(f"\nscreenshot: {path}")
    return path


def visible_rows(page: Page) -> list[list[str]]:
    """The matrix rows the page shows, each as the texts of its cells."""
    rows = page.locator("#matrix tbody tr")
    return [
        [cell.inner_text().strip() for cell in row.locator("th, td").all()]
        for row in rows.all()
        if row.is_visible()
    ]


def visible_stacks(page: Page) -> list[str]:
    return [cells[0] for cells in visible_rows(page)]


def header(page: Page, name: str) -> Locator:
    """The matrix's column header whose first line is `name`."""
    return page.locator("#matrix thead th").filter(has_text=name).first


def type_filter(page: Page, text: str) -> None:
    """Type into the filter box key by key, as a person does."""
    page.locator("#filter").press_sequentially(text)


COLUMNS = ["Stack", "aws-guardrails", "best-practices", "cost-controls", "pci-dss"]
COLUMNS += ["Groups", "Audited by", "Status"]
MATRIX = [
    [
        "data/prod",
        "1.0.0 M→–",
        "–→A",
        "",
        "",
        "production → default-policy-group",
        "",
        "changes, default only",
    ],
    ["ml/train", "–→1.3.0 M", "A→–", "–→A", "", "default-policy-group → production", "", "changes"],
    ["ops/tools", "", "", "", "", "tools", "", "no preventative policy"],
    ["payments/prod", "1.0.0 M→1.3.0 M", "", "–→A", "M", "payments, production", "", "changes"],
    ["payments/staging", "1.3.0 A→1.3.0 M", "", "", "M", "payments, staging", "", "changes"],
    ["web/dev", "", "A", "", "", "default-policy-group", "audit-dev", "default only"],
    ["web/prod", "1.0.0 M→1.3.0 M", "", "–→A", "", "production", "", "changes"],
    ["web/staging", "1.3.0 A→1.3.0 M", "", "", "", "staging", "", "changes"],
]
STACKS = [row[0] for row in MATRIX]


def test_the_matrix_shows_each_stack_with_each_packs_level(
    page: Page, capsys: pytest.CaptureFixture[str]
) -> None:
    keep_screenshot(page, "report.png", capsys)
    readme = keep_screenshot(page, "report-readme.png", capsys, clip_to="#matrix")
    if UPDATE_SCREENSHOT:
        README_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(readme, README_SCREENSHOT)
    columns = [cell.inner_text().split("\n")[0] for cell in page.locator("#matrix thead th").all()]
    assert columns == COLUMNS
    assert visible_rows(page) == MATRIX


def test_a_pack_header_shows_its_one_version(page: Page) -> None:
    assert header(page, "pci-dss").inner_text().split("\n") == ["pci-dss", "4.0.0"]


def test_typing_in_the_filter_box_shows_only_the_matching_stacks(
    page: Page, capsys: pytest.CaptureFixture[str]
) -> None:
    type_filter(page, "web/")
    keep_screenshot(page, "report-filtered.png", capsys, clip_to="#matrix")
    assert visible_stacks(page) == ["web/dev", "web/prod", "web/staging"]
    assert page.locator("#shown").inner_text() == "3 of 8 stacks shown"


def test_the_filter_matches_the_packs_that_reach_a_stack(page: Page) -> None:
    type_filter(page, "PCI")
    assert visible_stacks(page) == ["payments/prod", "payments/staging"]


def test_the_filter_matches_group_names(page: Page) -> None:
    type_filter(page, "audit-dev")
    assert visible_stacks(page) == ["web/dev"]


def test_clearing_the_filter_shows_every_stack_again(page: Page) -> None:
    type_filter(page, "no such stack")
    assert visible_stacks(page) == []
    page.locator("#filter").fill("")
    assert visible_stacks(page) == STACKS
    assert page.locator("#shown").inner_text() == "8 of 8 stacks shown"


def test_clicking_a_pack_header_sorts_by_level_strictest_first(page: Page) -> None:
    header(page, "aws-guardrails").click()
    mandatory = ["ml/train", "payments/prod", "payments/staging", "web/prod", "web/staging"]
    # data/prod loses the pack; the stacks it never reaches come last.
    assert visible_stacks(page) == [*mandatory, "data/prod", "ops/tools", "web/dev"]
    assert header(page, "aws-guardrails").get_attribute("aria-sort") == "ascending"


def test_clicking_a_header_again_reverses_the_order(page: Page) -> None:
    header(page, "aws-guardrails").click()
    header(page, "aws-guardrails").click()
    mandatory = ["ml/train", "payments/prod", "payments/staging", "web/prod", "web/staging"]
    # Stacks of one level stay in name order.
    assert visible_stacks(page) == ["ops/tools", "web/dev", "data/prod", *mandatory]
    assert header(page, "aws-guardrails").get_attribute("aria-sort") == "descending"


def test_the_stack_column_starts_sorted_and_a_click_reverses_it(page: Page) -> None:
    assert header(page, "Stack").get_attribute("aria-sort") == "ascending"
    header(page, "Stack").click()
    assert visible_stacks(page) == sorted(STACKS, reverse=True)


def test_a_header_sorts_from_the_keyboard(page: Page) -> None:
    header(page, "Groups").focus()
    page.keyboard.press("Enter")
    groups = [cells[5] for cells in visible_rows(page)]
    assert groups == sorted(groups)
    assert header(page, "Groups").get_attribute("aria-sort") == "ascending"


def test_sorting_keeps_the_filter(page: Page) -> None:
    type_filter(page, "staging")
    header(page, "Stack").click()
    assert visible_stacks(page) == ["web/staging", "payments/staging"]


def test_the_filter_box_is_shown_with_javascript(page: Page) -> None:
    assert page.locator("#filter").is_visible()


def test_without_javascript_the_whole_matrix_is_readable(
    page_without_javascript: Page, capsys: pytest.CaptureFixture[str]
) -> None:
    keep_screenshot(page_without_javascript, "report-no-javascript.png", capsys)
    assert visible_rows(page_without_javascript) == MATRIX


def test_without_javascript_there_is_no_filter_box_that_would_do_nothing(
    page_without_javascript: Page,
) -> None:
    assert not page_without_javascript.locator("#filter").is_visible()
    assert page_without_javascript.locator("#matrix").is_visible()


def requests_of(browser: Browser, load: Callable[[Page], None]) -> list[str]:
    """Every URL a page asks for while `load` opens and uses it."""
    context = browser.new_context(viewport=VIEWPORT)
    asked: list[str] = []
    context.on("request", lambda request: asked.append(request.url))
    try:
        load(context.new_page())
    finally:
        context.close()
    return asked


def test_the_report_asks_the_network_for_nothing(browser: Browser, report_file: Path) -> None:
    def use(page: Page) -> None:
        page.goto(report_file.as_uri(), wait_until="networkidle")
        type_filter(page, "prod")
        header(page, "cost-controls").click()
        assert page.evaluate("performance.getEntriesByType('resource').length") == 0

    assert requests_of(browser, use) == [report_file.as_uri()]


def test_the_request_check_sees_what_a_page_loads(browser: Browser) -> None:
    # A closed loopback port: the request is made, and refused, without leaving the machine.
    image = "http://127.0.0.1:9/logo.png"

    def use(page: Page) -> None:
        page.set_content(f"<img src={image}>", wait_until="load")

    assert image in requests_of(browser, use)
