"""`implicitbias run / reproduce / sweep` end to end on the toy experiment, and the HTML report."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from implicitbias.experiments.base import Claim, ExperimentResult
from implicitbias.report.html import ReportEntry, build_report


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "implicitbias", *args], capture_output=True, text=True, cwd=cwd, timeout=1500)


def test_run_reuses_completed(tmp_path):
    r1 = cli("run", "toy", "--out", str(tmp_path), "--set", "scale=3")
    assert r1.returncode == 0, r1.stderr
    runs = list((tmp_path / "toy").iterdir())
    assert len(runs) == 1 and (runs[0] / "complete.json").exists()
    r2 = cli("run", "toy", "--out", str(tmp_path), "--set", "scale=3")
    assert r2.returncode == 0 and "cached" in r2.stderr + r2.stdout


@pytest.mark.parametrize("args", [
    ("run", "nosuch"),
    ("run", "toy", "--set", "scale=abc"),
    ("run", "toy", "--set", "nokey=1"),
    ("run", "toy", "--preset", "nopreset"),
    ("reproduce", "--only", "nosuch"),
    ("reproduce", "--preset", "bogus"),
    ("sweep", "toy", "--seeds", "9-1"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, args):
    r = cli(*args, "--out", str(tmp_path))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().startswith("error:")


def test_reproduce_writes_report_and_resumes(tmp_path):
    out = tmp_path / "rep"
    r = cli("reproduce", "--only", "toy", "--out", str(out))
    assert r.returncode == 0, r.stderr
    html = (out / "index.html").read_text()
    assert "claims-table" in html and "figures/toy/vals.png" in html
    assert (out / "figures" / "toy" / "vals.png").exists()
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [row["experiment"] for row in rows] == ["toy"]
    data = json.loads((out / "results.json").read_text())
    assert data["claims"][0]["verdict"] == "reproduced"
    stamp = next((out / "runs" / "toy").glob("*/complete.json")).stat().st_mtime
    r2 = cli("reproduce", "--only", "toy", "--out", str(out))
    assert r2.returncode == 0
    assert next((out / "runs" / "toy").glob("*/complete.json")).stat().st_mtime == stamp


def test_sweep_cli_summary(tmp_path):
    r = cli("sweep", "toy", "--grid", "scale=1,2", "--seeds", "0-1", "--executor", "local", "--workers", "2", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader((tmp_path / "toy" / "sweep_summary.csv").open()))
    assert sorted(r["scale"] for r in rows) == ["1", "2"] and all(r["n"] == "2" for r in rows)


def _fake_report(tmp_path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = tmp_path / "run"
    (run / "figures").mkdir(parents=True)
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    fig.savefig(run / "figures" / "a.png")
    fig.savefig(run / "figures" / "b.png")
    plt.close(fig)
    res = ExperimentResult("exp1", [Claim("exp1", "c1", "1", "1.0", "1.0 ± 0", "reproduced"),
                                    Claim("exp1", "c2 <b>", "2", "3", "", "differs", "note")],
                           {"x": 1.5}, ["figures/a.png", "figures/b.png"], 1.0, "implicitbias run exp1")
    entries = [ReportEntry("exp1", "Experiment one", res, run),
               ReportEntry("exp2", "Experiment two", None, None, "boom")]
    return build_report(entries, tmp_path / "out", preset="quick")


def test_report_rows_escaping_and_not_run(tmp_path):
    index = _fake_report(tmp_path)
    html = index.read_text()
    assert html.count("<tr class='claim'>") == 3  # two claims + one "not run"
    assert "c2 &lt;b&gt;" in html and "v-not-run" in html and "v-differs" in html


def test_report_opens_with_a_summary_then_collapsible_claims(tmp_path):
    html = _fake_report(tmp_path).read_text()
    summary, claims, section = (html.index(x) for x in ("id='summary'", "id='claims'", "<h2 id='exp1'>"))
    assert summary < claims < section
    assert html.count("<tr class='summary'>") == 2
    # one line per experiment: verdict counts, headline thumbnail (its first figure), wall time
    line = html[html.index("<tr class='summary'>"):html.index("</tr>", html.index("<tr class='summary'>"))]
    assert "1 reproduced" in line and "1 differs" in line and "img class='thumb' src='figures/exp1/a.png'" in line
    assert "1.0 s" in line
    assert html.count("<details class='claims'") == 2  # one collapsible claims table per experiment
    assert "metrics</summary>" in html and "<td>x</td>" in html


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")

_CHECK = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.querySelectorAll('img')];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const rows = document.querySelectorAll('#claims-table tr.claim').length;
  document.title = `CHECK images=${imgs.length} loaded=${ok} rows=${rows}`;
});
</script>"""


def render_check(index: Path) -> dict[str, int]:
    """Load ``index`` in headless Chromium and count images loaded and claim rows."""
    page = index.with_name("_browser_check.html")
    page.write_text(index.read_text().replace("</body>", _CHECK + "</body>"))
    try:
        r = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--allow-file-access-from-files", "--virtual-time-budget=5000",
             "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120,
        )
    finally:
        page.unlink(missing_ok=True)
    import re

    m = re.search(r"CHECK images=(\d+) loaded=(\d+) rows=(\d+)", r.stdout)
    assert m, f"no check result from chromium: {r.stderr[-500:]}"
    return {"images": int(m[1]), "loaded": int(m[2]), "rows": int(m[3])}


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (apt-get install chromium); .ci/run installs it")
def test_report_renders_in_browser(tmp_path):
    index = _fake_report(tmp_path)
    got = render_check(index)
    assert got == {"images": 3, "loaded": 3, "rows": 3}  # a thumbnail + two figures


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (apt-get install chromium); .ci/run installs it")
def test_quick_report_renders_in_browser(tmp_path):
    """The real quick report: every image loads and the table has one row per claim."""
    out = tmp_path / "quick"
    r = cli("reproduce", "--preset", "quick", "--out", str(out))
    assert (out / "index.html").exists(), r.stderr[-2000:]
    claims = json.loads((out / "results.json").read_text())["claims"]
    got = render_check(out / "index.html")
    assert got["rows"] == len(claims) > 0
    assert got["images"] > 0 and got["loaded"] == got["images"]
