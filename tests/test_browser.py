"""Open a real report in headless Chromium: it loads without errors and every figure has rendered.

The report comes from the README's quickstart run (the 2025-10-09 export-control event E09 from the shipped
catalog over eight US rare-earth and critical-minerals stocks, market SPY, on ``../shared/data/prices``).
Chromium runs twice with network name resolution disabled: once on a copy of the page with a probe script
appended, which dumps the DOM with each image's box, decode state and the list of fetched resources; once on the
report itself for a full-page screenshot. Each image's box in the screenshot must hold non-blank pixels that
match the embedded PNG.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from eventstudy.cli import main  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TICKERS = ["MP", "USAR", "CRML", "UUUU", "NAK", "TMQ", "LAC", "TMC"]
WIDTH = 1400

if CHROMIUM is None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("chromium is not installed but CI is set: .ci/run must install the Debian package chromium")
    pytestmark = pytest.mark.skip(reason="chromium not installed (apt-get install chromium); required under CI")

PROBE = """<script>
window.addEventListener("load", function () {
  var out = {images: [], sections: [], errors: window.__errors || [],
             resources: performance.getEntriesByType("resource").map(function (e) { return e.name; }),
             height: document.documentElement.scrollHeight, width: document.documentElement.scrollWidth};
  document.querySelectorAll("img").forEach(function (img) {
    var r = img.getBoundingClientRect();
    out.images.push({id: img.id, x: r.left + window.scrollX, y: r.top + window.scrollY,
                     w: r.width, h: r.height, naturalWidth: img.naturalWidth, complete: img.complete});
  });
  document.querySelectorAll("section").forEach(function (s) { out.sections.push(s.id); });
  out.scripts = document.querySelectorAll("script").length;
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--enable-logging=stderr",
        "--v=0",
        f"--user-data-dir={tmp / 'profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _console(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def report(tmp_path_factory, prices_dir, repo_root) -> Path:
    """The README's quickstart run (catalog event E09, eight US names, SPY, listings, confounders, --report)."""
    run_dir = tmp_path_factory.mktemp("browser") / "e09"
    seeds = repo_root / "seeds"
    args = ["run", "--catalog", str(seeds / "events.csv"), "--event", "E09", "--tickers", ",".join(TICKERS)]
    args += [
        "--market",
        "SPY",
        "--listings",
        str(seeds / "listings.csv"),
        "--confounders",
        str(seeds / "confounders.csv"),
    ]
    args += ["--window", "0", "1", "--window", "-1", "1", "--window", "0", "5", "--window", "-5", "10"]
    args += ["--prices", str(prices_dir), "--report", "--out", str(run_dir)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return run_dir / "report.html"


@pytest.fixture(scope="module")
def probe(report: Path) -> dict:
    tmp = report.parent
    probe_page = tmp / "probe.html"
    probe_page.write_text(report.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), "utf-8")
    done = _chromium(tmp, f"--window-size={WIDTH},6000", "--dump-dom", probe_page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, flags=re.S)
    assert found, "the probe did not run: the page did not finish loading\n" + done.stderr[-2000:]
    data = json.loads(html.unescape(found.group(1)))
    data["dom"] = done.stdout
    return data


@pytest.fixture(scope="module")
def screenshot(report: Path, probe: dict) -> tuple[np.ndarray, str]:
    tmp = report.parent
    png = tmp / "screenshot.png"
    done = _chromium(tmp, f"--window-size={WIDTH},{probe['height']}", f"--screenshot={png}", report.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    if os.environ.get("EVENTSTUDY_SCREENSHOT"):  # keep the screenshot for a person to look at
        shutil.copy(png, os.environ["EVENTSTUDY_SCREENSHOT"])
    return np.asarray(Image.open(png).convert("RGB")), done.stderr


def test_page_loads_without_errors(probe, screenshot):
    _, stderr = screenshot
    assert _console(stderr) == [], "the report wrote to the browser console"
    assert probe["resources"] == [], "the report fetched external resources"
    assert probe["scripts"] == 1, "only the test's probe script may run; the report has none"
    for section in (
        "headline",
        "warnings",
        "studied",
        "car",
        "tests",
        "alignment",
        "diagnostics",
        "settings",
    ):
        assert section in probe["sections"]
    dom = probe["dom"]
    for ticker in TICKERS:
        assert f"<td>{ticker}</td>" in dom
    # the 2025-10-10 tariff threat, a catalogued confounder, is flagged in the warnings
    assert re.search(r'class="warning">[^<]*contains a confounder \([^<]*C01: Trump threatens 100% tariffs', dom)
    assert 'href="https://' in dom  # the catalog's source links


def test_every_figure_rendered(report, probe, screenshot):
    shot, _ = screenshot
    page = report.read_text(encoding="utf-8")
    sources = dict(re.findall(r'<img id="([^"]+)" alt="[^"]*" src="data:image/png;base64,([^"]+)"', page))
    assert len(probe["images"]) == len(sources) == 5  # CAR paths, CAR bars, placebo, AR heatmap, prices
    assert shot.shape[1] == WIDTH and shot.shape[0] >= probe["height"] - 2
    for image in probe["images"]:
        assert image["complete"] and image["naturalWidth"] > 0, f"{image['id']} did not decode"
        # the <img> box includes a 1px border; compare its content, both sides reduced 4x (sub-pixel offsets)
        x, y = int(round(image["x"])) + 1, int(round(image["y"])) + 1
        w, h = int(round(image["w"])) - 2, int(round(image["h"])) - 2
        assert w > 200 and h > 100, image
        crop = shot[y : y + h, x : x + w]
        ink = (crop.min(axis=2) < 200).mean()
        assert ink > 0.02, f"{image['id']} is blank in the screenshot ({ink:.1%} non-white pixels)"
        small = (w // 4, h // 4)
        seen = np.asarray(Image.fromarray(crop).convert("L").resize(small, Image.Resampling.BOX), dtype=float)
        original = Image.open(io.BytesIO(base64.b64decode(sources[image["id"]]))).convert("L")
        expected = np.asarray(original.resize(small, Image.Resampling.BOX), dtype=float)
        corr = np.corrcoef(expected.ravel(), seen.ravel())[0, 1]
        assert corr > 0.9, f"{image['id']} on screen does not match the embedded figure (corr {corr:.2f})"
