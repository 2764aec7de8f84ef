"""What an evaluation says to people: the summary, its table, its JSON, and comparisons of several runs.

Covers summarising per-problem records into pass@k rows (base tests, base +
extra tests, LiveCodeBench difficulties), the rich table on stderr, the
``--report`` JSON, and ``--compare``: a side-by-side table of several reports
plus a PNG bar chart. Does not cover scoring (see ``scoring``).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from rich.table import Table

from fdpo.console import console
from fdpo.errors import FdpoError
from fdpo.evaluation.passk import mean_pass_at_k, usable_ks
from fdpo.jsonl import replace_file

Record = dict[str, Any]
DIFFICULTIES = ("easy", "medium", "hard")


def counts(records: list[Record], key: str) -> list[tuple[int, int]]:
    return [(len(r["samples"]), sum(bool(s[key]) for s in r["samples"])) for r in records]


def score_row(pairs: list[tuple[int, int]], ks: list[int]) -> dict[str, float]:
    return {f"pass@{k}": mean_pass_at_k(pairs, k) for k in ks}


def score_rows(name: str, plus: bool, records: list[Record], ks: list[int]) -> dict[str, dict[str, float]]:
    """``{row label: {"pass@k": mean}}``: the plus benchmark's own name is its base + extra score."""
    ks = usable_ks(ks, [len(r["samples"]) for r in records])
    if not plus:
        rows = {name: score_row(counts(records, "passed"), ks)}
    else:
        rows = {f"{name} base": score_row(counts(records, "passed"), ks),
                name: score_row(counts(records, "plus_passed"), ks)}
    levels = [d for d in DIFFICULTIES if any(r.get("difficulty") == d for r in records)]
    levels += sorted({r["difficulty"] for r in records if r.get("difficulty")} - set(levels))
    for level in levels:
        subset = [r for r in records if r.get("difficulty") == level]
        rows[f"{name} {level}"] = score_row(counts(subset, "passed"), ks)
    return rows


def summarize(name: str, plus: bool, records: list[Record], ks: list[int], **meta: Any) -> dict[str, Any]:
    samples = [s for r in records for s in r["samples"]]
    return {
        "benchmark": name,
        "label": meta.pop("label", name),
        "scores": score_rows(name, plus, records, ks),
        "problems": len(records),
        "samples": len(samples),
        "outcomes": dict(Counter(s["outcome"] for s in samples).most_common()),
        **meta,
    }


def metric_names(reports: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for report in reports:
        for row in report["scores"].values():
            names += [m for m in row if m not in names]
    return sorted(names, key=lambda m: int(m.split("@")[1]))


def summary_table(report: dict[str, Any]) -> Table:
    metrics = metric_names([report])
    table = Table(title=f"fdpo eval: {report.get('label', '')} on {report['benchmark']}", title_justify="left")
    table.add_column("benchmark")
    for m in metrics:
        table.add_column(m, justify="right")
    for row, values in report["scores"].items():
        table.add_row(row, *(pct(values.get(m)) for m in metrics))
    return table


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def print_summary(report: dict[str, Any]) -> None:
    console.print(summary_table(report))
    outcomes = ", ".join(f"{k} {v}" for k, v in report["outcomes"].items())
    console.print(f"{report['problems']} problems, {report['samples']} samples; outcomes: {outcomes}")


def write_report(path: Path, report: dict[str, Any]) -> None:
    replace_file(path, (json.dumps(report, indent=2) + "\n").encode())


def read_report(path: Path) -> dict[str, Any]:
    try:
        report = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FdpoError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise FdpoError(f"{path}: not a JSON report ({exc})") from None
    if not isinstance(report, dict) or "scores" not in report:
        raise FdpoError(f"{path}: not an fdpo eval report (no 'scores'); make one with --report")
    return report


def labels(reports: list[dict[str, Any]], paths: list[Path]) -> list[str]:
    """Each report's label, falling back to the file name where labels are missing or repeated."""
    names = [r.get("label") or p.stem for r, p in zip(reports, paths)]
    return [n if names.count(n) == 1 else f"{n} ({p.name})" for n, p in zip(names, paths)]


def comparison(reports: list[dict[str, Any]], names: list[str]) -> list[tuple[str, str, list[float | None]]]:
    """(row, metric, one value per report) for every row any report has, in first-seen order."""
    rows: list[str] = []
    for report in reports:
        rows += [r for r in report["scores"] if r not in rows]
    return [(row, m, [rep["scores"].get(row, {}).get(m) for rep in reports])
            for row in rows for m in metric_names(reports)
            if any(rep["scores"].get(row, {}).get(m) is not None for rep in reports)]


def comparison_table(lines, names: list[str]) -> Table:
    table = Table(title="fdpo eval --compare", title_justify="left")
    table.add_column("benchmark")
    table.add_column("metric")
    for name in names:
        table.add_column(name, justify="right")
    for row, metric, values in lines:
        best = max((v for v in values if v is not None), default=None)
        cells = [f"[bold]{pct(v)}[/]" if v is not None and v == best and len(values) > 1 else pct(v)
                 for v in values]
        table.add_row(row, metric, *cells)
    return table


def comparison_chart(lines, names: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [f"{row}\n{metric}" for row, metric, _ in lines]
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(groups) + 2), 4.5))
    for i, name in enumerate(names):
        xs = [g + (i - (len(names) - 1) / 2) * width for g in range(len(groups))]
        ys = [100 * (values[i] or 0.0) for _, _, values in lines]
        bars = ax.bar(xs, ys, width, label=name)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(range(len(groups)), groups, fontsize=8)
    ax.set_ylabel("%")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=8)
    ax.set_title("fdpo eval --compare")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def compare(paths: list[Path], chart: Path) -> None:
    reports = [read_report(p) for p in paths]
    names = labels(reports, paths)
    lines = comparison(reports, names)
    console.print(comparison_table(lines, names))
    comparison_chart(lines, names, chart)
    console.print(f"fdpo eval: chart written to {chart}")
