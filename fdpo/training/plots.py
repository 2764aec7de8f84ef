"""``curves.png``: the training curves of a run, drawn from its metrics records.

Covers four panels over optimizer steps: loss, margin, reward accuracy (train
and, where present, eval), and the per-segment rewards of the mid. Does not
cover computing metrics (see ``metrics``).
"""

from __future__ import annotations

from pathlib import Path

PANELS = [
    ("loss", "loss"),
    ("margin", "reward margin (chosen − rejected)"),
    ("reward_accuracy", "reward accuracy"),
]
SEGMENT_CURVES = ["reward_chosen_mid", "reward_rejected_mid", "reward_chosen_suffix", "reward_chosen_prefix"]


def write_curves(records: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [r for r in records if r.get("split") == "train"]
    evals = [r for r in records if r.get("split") == "eval"]
    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    for ax, (key, title) in zip(axes, PANELS):
        _line(ax, train, key, "train")
        _line(ax, evals, "eval_" + key, "eval", marker="o")
        ax.set_title(title)
    for key in SEGMENT_CURVES:
        _line(axes[3], train, key, key.removeprefix("reward_"))
    axes[3].set_title("per-segment rewards β·(log π − log π_ref)")
    for ax in axes:
        ax.set_xlabel("optimizer step")
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _line(ax, records: list[dict], key: str, label: str, **style) -> None:
    points = [(r["step"], r[key]) for r in records if key in r]
    if points:
        xs, ys = zip(*points)
        ax.plot(xs, ys, label=label, **style)
