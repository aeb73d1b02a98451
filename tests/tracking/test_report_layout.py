"""``report.html`` laid out by a real browser (headless Chromium, when installed): every
table fits MLflow's artifact frame, about 950 px wide, so no verdict hides off to the side."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from augsweep.tracking.report import build_report
from augsweep.tracking.tags import Tag
from tests.tracking.test_report import record

FRAME_PX = 950  # MLflow 3.17's artifact frame is 1,006 px in a 1,600 px window
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Appended to the page: the widths the browser laid out, written into the DOM it dumps.
MEASURE = """<script>
const page = document.documentElement;
const tables = [...document.querySelectorAll("table")].map(t => ({
  heading: (t.previousElementSibling || {}).textContent || "",
  right: Math.ceil(t.getBoundingClientRect().right), scroll: t.scrollWidth}));
const out = document.createElement("pre"); out.id = "measured";
out.textContent = JSON.stringify({page: page.scrollWidth, tables});
document.body.appendChild(out);
</script>"""


def sweep_records() -> list:
    """Three policies by five seeds, the longest names a sweep makes, one failed run."""
    records = []
    for seed in range(5):
        for augment, clean, val in (("none", 1.0, 0.8), ("flip_rot_zoom", 0.85, 0.7),
                                    ("randaugment", 0.9, 0.78)):  # fmt: skip
            shift = 0.01 * seed * (1 if augment == "none" else -1)
            records.append(record(f"augment={augment},trainer.learning_rate=0.001,seed={seed}",
                                  augment, seed=seed, final=(clean, val + shift)))  # fmt: skip
    records.append(
        record(
            "augment=randaugment,seed=9",
            "randaugment",
            "FAILED",
            seed=9,
            tags={Tag.ERROR: "TrainingDiverged: loss became NaN at epoch 3 " * 3},
        )
    )
    return records


def laid_out(html_path, tmp_path) -> dict:
    """The page's widths at :data:`FRAME_PX`, as Chromium lays it out."""
    measured = tmp_path / "measured.html"
    measured.write_text(html_path.read_text().replace("</body>", MEASURE + "</body>"))
    profile = tmp_path / "profile"
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", f"--window-size={FRAME_PX},1000", "--dump-dom",
         measured.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    found = re.search(r'<pre id="measured">(.*?)</pre>', result.stdout, re.S)
    assert found, result.stderr[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)")
def test_every_table_of_the_report_fits_a_950_px_frame(tmp_path):
    jobs = [{"job": n, "name": f"augment=randaugment,seed={n}", "outcome": "failed",
             "run_id": "0123456789abcdef0123456789abcdef", "error": "E " * 60, "detail": ""}
            for n in range(3)]  # fmt: skip
    build_report(sweep_records(), tmp_path / "out", "sweep 0123abcd", jobs)
    widths = laid_out(tmp_path / "out" / "report.html", tmp_path)
    assert len(widths["tables"]) == 4  # verdict, groups, runs, jobs
    for table in widths["tables"]:
        assert table["right"] <= FRAME_PX and table["scroll"] <= FRAME_PX, table
    assert widths["page"] <= FRAME_PX  # nothing to scroll sideways
