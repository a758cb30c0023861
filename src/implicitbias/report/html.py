"""The self-contained HTML report of ``implicitbias reproduce``.

``build_report(entries, out_dir)`` writes

* ``index.html`` — a claims table (claim → paper → ours (seed 0 | mean ± sd) → verdict),
  then one section per experiment with its figures and the command that reruns it;
* ``figures/<experiment>/*.png`` — figures copied beside the page (relative links);
* ``results.json`` and ``results.csv`` — the same numbers for machines.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from implicitbias.experiments.base import ExperimentResult
from implicitbias.runs.atomic import atomic_write_json, atomic_write_text

__all__ = ["ReportEntry", "build_report"]


@dataclass
class ReportEntry:
    """One experiment in the report.

    Attributes:
        experiment: id; title: one-line title.
        result: the stored result, or ``None`` when the experiment did not run.
        run_path: its run directory (figures are read from there).
        error: why it did not run, if it did not.
    """

    experiment: str
    title: str
    result: ExperimentResult | None
    run_path: Path | None = None
    error: str | None = None


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#1d2329;line-height:1.45}
h1{margin-bottom:.2em} h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;width:100%;font-size:.9em;margin:1em 0}
th,td{border:1px solid #d8dde2;padding:.35em .5em;text-align:left;vertical-align:top}
th{background:#f3f5f7} td.num{font-variant-numeric:tabular-nums}
.v-reproduced{background:#e3f6e8;color:#145a2a;font-weight:600}
.v-differs{background:#fdecea;color:#8a1c12;font-weight:600}
.v-not-run{background:#f1f1f1;color:#666;font-weight:600}
.v-info{color:#3b5b7a}
.figs{display:flex;flex-wrap:wrap;gap:1em} .figs figure{margin:0;flex:1 1 420px}
.figs img{max-width:100%;border:1px solid #eee} figcaption{font-size:.8em;color:#555}
code,pre{background:#f6f8fa;padding:.15em .3em;border-radius:3px;font-size:.85em}
.meta{color:#555;font-size:.9em} .err{color:#8a1c12}
"""


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _verdict_cell(v: str) -> str:
    cls = "v-" + v.replace(" ", "-")
    return f'<td class="{cls}">{_esc(v)}</td>'


def _copy_figures(entry: ReportEntry, out_dir: Path) -> list[str]:
    if entry.result is None or entry.run_path is None:
        return []
    rel = []
    dest = out_dir / "figures" / entry.experiment
    for f in entry.result.figures:
        src = Path(f)
        if not src.is_absolute():
            src = entry.run_path / src
        if not src.exists():
            continue
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / src.name)
        rel.append(f"figures/{entry.experiment}/{src.name}")
    return rel


def _claim_rows(entries: list[ReportEntry]) -> list[dict[str, str]]:
    rows = []
    for e in entries:
        if e.result is None or not e.result.claims:
            rows.append({
                "experiment": e.experiment, "claim": e.title, "paper": "", "ours_seed0": "",
                "ours_mean_sd": "", "verdict": "not run", "note": e.error or "no result",
            })
            continue
        rows.extend(c.to_dict() for c in e.result.claims)
    return rows


def build_report(
    entries: list[ReportEntry],
    out_dir: str | Path,
    *,
    title: str = "implicitbias — reproduction report",
    preset: str = "",
    env: dict[str, Any] | None = None,
) -> Path:
    """Write ``index.html``, ``results.json``, ``results.csv`` and figures into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = _claim_rows(entries)
    counts = Counter(r["verdict"] for r in rows)
    figs = {e.experiment: _copy_figures(e, out_dir) for e in entries}

    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_esc(title)}</h1>",
        f"<p class='meta'>Preset <b>{_esc(preset or '-')}</b> · generated "
        f"{_esc(dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC'))}"
        + (f" · torch {_esc(env.get('torch'))} · git {_esc((env.get('git_sha') or '-')[:10])}" if env else "")
        + "</p>",
        "<p>Every number below was computed by this run. Paper numbers come from the papers' "
        "published code and data (see <code>shared/reference</code>); verdicts say whether ours "
        "agree within the stated tolerance. A <b>differs</b> verdict is a finding, not a bug report.</p>",
        f"<p><b>{counts.get('reproduced', 0)}</b> reproduced · <b>{counts.get('differs', 0)}</b> differ · "
        f"<b>{counts.get('info', 0)}</b> measured without a paper number (info) · "
        f"<b>{counts.get('not run', 0)}</b> not run</p>",
        "<h2 id='claims'>Claims</h2>",
        "<table id='claims-table'><thead><tr><th>experiment</th><th>claim</th><th>paper</th>"
        "<th>ours (seed 0)</th><th>ours (mean ± sd)</th><th>verdict</th><th>note</th></tr></thead><tbody>",
    ]
    for r in rows:
        parts.append(
            f"<tr class='claim'><td><a href='#{_esc(r['experiment'])}'>{_esc(r['experiment'])}</a></td>"
            f"<td>{_esc(r['claim'])}</td><td class='num'>{_esc(r['paper'])}</td>"
            f"<td class='num'>{_esc(r['ours_seed0'])}</td><td class='num'>{_esc(r['ours_mean_sd'])}</td>"
            f"{_verdict_cell(r['verdict'])}<td>{_esc(r.get('note', ''))}</td></tr>"
        )
    parts.append("</tbody></table>")

    for e in entries:
        parts.append(f"<h2 id='{_esc(e.experiment)}'>{_esc(e.title)} <small>({_esc(e.experiment)})</small></h2>")
        if e.result is None:
            parts.append(f"<p class='err'>Not run: {_esc(e.error or 'no result')}</p>")
            continue
        r = e.result
        parts.append(f"<p class='meta'>wall time {r.wall_time_s:.1f} s · run directory <code>{_esc(e.run_path)}</code></p>")
        if r.command:
            parts.append(f"<p>Rerun: <code>{_esc(r.command)}</code></p>")
        scalars = {k: v for k, v in r.metrics.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
        if scalars:
            parts.append("<details><summary>metrics</summary><table>")
            for k, v in scalars.items():
                val = f"{v:.6g}" if isinstance(v, float) else v
                parts.append(f"<tr><td>{_esc(k)}</td><td class='num'>{_esc(val)}</td></tr>")
            parts.append("</table></details>")
        if figs[e.experiment]:
            parts.append("<div class='figs'>")
            for f in figs[e.experiment]:
                parts.append(f"<figure><img src='{_esc(f)}' alt='{_esc(Path(f).stem)}' loading='eager'>"
                             f"<figcaption>{_esc(Path(f).stem)}</figcaption></figure>")
            parts.append("</div>")
    parts.append("</body></html>\n")
    atomic_write_text(out_dir / "index.html", "\n".join(parts))

    atomic_write_json(out_dir / "results.json", {
        "preset": preset,
        "env": env or {},
        "claims": rows,
        "experiments": {
            e.experiment: (e.result.to_dict() if e.result else {"error": e.error})
            for e in entries
        },
    })
    with (out_dir / "results.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["experiment", "claim", "paper", "ours_seed0", "ours_mean_sd", "verdict", "note"])
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in w.fieldnames})
    return out_dir / "index.html"
