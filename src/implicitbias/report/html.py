"""The self-contained HTML report of ``implicitbias reproduce``.

``build_report(entries, out_dir)`` writes

* ``index.html`` — a summary (one line per experiment: verdict counts, a thumbnail of its
  headline figure, wall time), then the full claims table (claim → paper → ours (seed 0 |
  mean ± sd) → verdict), collapsible per experiment, then one section per experiment with
  its declared metrics, its figures and the command that reruns it;
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

from implicitbias.experiments.base import VERDICTS, ExperimentResult, Metric, metric_values
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
        metrics: the experiment's declared metrics (``METRICS``); ``None`` for an
            undeclared user experiment (its top-level numbers are shown).
    """

    experiment: str
    title: str
    result: ExperimentResult | None
    run_path: Path | None = None
    error: str | None = None
    metrics: tuple[Metric, ...] | None = None


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
.v-inconclusive{background:#fff6dd;color:#7a5a00;font-weight:600}
.badge{display:inline-block;padding:0 .4em;margin-right:.3em;border-radius:3px;font-size:.85em}
img.thumb{height:64px;border:1px solid #eee} details{margin:.3em 0} summary{cursor:pointer}
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
    return [r for e in entries for r in _entry_rows(e)]


def _entry_rows(e: ReportEntry) -> list[dict[str, str]]:
    if e.result is None or not e.result.claims:
        return [{
            "experiment": e.experiment, "claim": e.title, "paper": "", "ours_seed0": "",
            "ours_mean_sd": "", "verdict": "not run", "note": e.error or "no result",
        }]
    return [c.to_dict() for c in e.result.claims]


def _badges(counts: Counter) -> str:
    return "".join(f"<span class='badge v-{v.replace(' ', '-')}'>{counts[v]} {_esc(v)}</span>"
                   for v in VERDICTS if counts.get(v))


def _summary(entries: list[ReportEntry], figs: dict[str, list[str]]) -> list[str]:
    parts = ["<h2 id='summary'>Summary</h2>",
             "<table id='summary-table'><thead><tr><th>experiment</th><th>verdicts</th>"
             "<th>headline figure</th><th>wall time</th></tr></thead><tbody>"]
    for e in entries:
        counts = Counter(r["verdict"] for r in _entry_rows(e))
        thumb = (f"<a href='#{_esc(e.experiment)}'><img class='thumb' src='{_esc(figs[e.experiment][0])}' "
                 f"alt='{_esc(e.experiment)} headline figure'></a>") if figs.get(e.experiment) else ""
        wall = f"{e.result.wall_time_s:.1f} s" if e.result is not None and e.result.wall_time_s == e.result.wall_time_s else "–"
        parts.append(f"<tr class='summary'><td><a href='#{_esc(e.experiment)}'>{_esc(e.experiment)}</a><br>"
                     f"<small>{_esc(e.title)}</small></td><td>{_badges(counts)}</td><td>{thumb}</td>"
                     f"<td class='num'>{wall}</td></tr>")
    parts.append("</tbody></table>")
    return parts


def _claims_table(entries: list[ReportEntry]) -> list[str]:
    parts = ["<h2 id='claims'>Claims</h2><div id='claims-table'>"]
    head = ("<table><thead><tr><th>claim</th><th>paper / target</th><th>ours (seed 0)</th>"
            "<th>ours (mean ± sd)</th><th>verdict</th><th>note</th></tr></thead><tbody>")
    for e in entries:
        rows = _entry_rows(e)
        counts = Counter(r["verdict"] for r in rows)
        is_open = " open" if counts.get("differs") or counts.get("not run") else ""
        parts.append(f"<details class='claims'{is_open}><summary><b>{_esc(e.experiment)}</b> — "
                     f"{len(rows)} claim(s) {_badges(counts)}</summary>{head}")
        for r in rows:
            parts.append(
                f"<tr class='claim'><td>{_esc(r['claim'])}</td><td class='num'>{_esc(r['paper'])}</td>"
                f"<td class='num'>{_esc(r['ours_seed0'])}</td><td class='num'>{_esc(r['ours_mean_sd'])}</td>"
                f"{_verdict_cell(r['verdict'])}<td>{_esc(r.get('note', ''))}</td></tr>"
            )
        parts.append("</tbody></table></details>")
    parts.append("</div>")
    return parts


def _metrics_table(e: ReportEntry) -> list[str]:
    """Declared metrics: name, unit, meaning, value (mean ± sd over chains for per-chain lists)."""
    import numpy as np

    assert e.result is not None
    spec = e.metrics if e.metrics is not None else tuple(
        Metric(k, "", "") for k in metric_values(e.result.metrics, None))
    if not spec:
        return []
    parts = ["<details><summary>metrics</summary><table><thead><tr><th>metric</th><th>unit</th>"
             "<th>value (mean ± sd over chains)</th><th>meaning</th></tr></thead><tbody>"]
    for m in spec:
        v: Any = e.result.metrics
        for part in m.name.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        if isinstance(v, (list, tuple)) and v:
            try:
                a = np.asarray(v, dtype=float).ravel()
            except (TypeError, ValueError):
                continue
            text = f"{np.nanmean(a):.4g} ± {np.nanstd(a, ddof=1) if a.size > 1 else 0.0:.2g} (n={a.size})"
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            text = f"{v:.6g}"
        else:
            continue
        parts.append(f"<tr><td>{_esc(m.name)}</td><td>{_esc(m.unit)}</td><td class='num'>{_esc(text)}</td>"
                     f"<td>{_esc(m.description)}</td></tr>")
    parts.append("</tbody></table></details>")
    return parts


def _declared(e: ReportEntry) -> list[dict[str, Any]]:
    """Declared metrics with unit, meaning and value (mean over chains) for ``results.json``."""
    assert e.result is not None
    vals = metric_values(e.result.metrics, e.metrics)
    spec = e.metrics if e.metrics is not None else tuple(Metric(k, "", "") for k in vals)
    return [{"name": m.name, "unit": m.unit, "description": m.description, "value": vals.get(m.name)} for m in spec]


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
        "agree within the stated tolerance. Distances between simulated and predicted laws are "
        "judged against the noise floor of their own simulation (its effective sample size is "
        "stated on each row): <b>inconclusive</b> means between the floor and the rejection factor. "
        "A <b>differs</b> verdict is a finding, not a bug report.</p>",
        f"<p>{_badges(counts)}</p>",
        *_summary(entries, figs),
        *_claims_table(entries),
    ]
    for e in entries:
        parts.append(f"<h2 id='{_esc(e.experiment)}'>{_esc(e.title)} <small>({_esc(e.experiment)})</small></h2>")
        if e.result is None:
            parts.append(f"<p class='err'>Not run: {_esc(e.error or 'no result')}</p>")
            continue
        r = e.result
        parts.append(f"<p class='meta'>wall time {r.wall_time_s:.1f} s · run directory <code>{_esc(e.run_path)}</code></p>")
        if r.command:
            parts.append(f"<p>Rerun: <code>{_esc(r.command)}</code></p>")
        parts += _metrics_table(e)
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
            e.experiment: ({**e.result.to_dict(), "declared_metrics": _declared(e)} if e.result else {"error": e.error})
            for e in entries
        },
    })
    with (out_dir / "results.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["experiment", "claim", "paper", "ours_seed0", "ours_mean_sd", "verdict", "note"])
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in w.fieldnames})
    return out_dir / "index.html"
