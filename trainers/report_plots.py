"""The report's PNGs: accuracy (95% interval bars) against training compute, Pareto frontier marked.

Matplotlib's Agg backend is selected before pyplot is imported, so plotting works on machines with
no display (CI, SLURM nodes). Plots are small (≈ 50 KB) so docs can commit them.
"""
from __future__ import annotations

from pathlib import Path


def plot_accuracy_vs(report: dict, x_key: str, x_label: str, path: Path) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = [a for a in report["arms"] if a["status"] == "ok"]
    front_names = set(report["pareto_pflops" if x_key == "pflops" else "pareto_krw"])
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
    xs = [a[x_key] or 0.0 for a in arms]
    span = (max(xs) - min(xs)) or 1.0 if xs else 1.0
    stacked: dict[int, int] = {}   # arms at (nearly) the same x get their labels stacked, not overprinted
    for a in sorted(arms, key=lambda a: (a[x_key] or 0.0, a["accuracy"])):
        x, y = a[x_key] or 0.0, a["accuracy"]
        lo, hi = a["ci95"]
        on_front = a["name"] in front_names
        ax.errorbar([x], [y], yerr=[[y - lo], [hi - y]], fmt="o" if on_front else "s", capsize=4,
                    color="tab:red" if on_front else "tab:gray", markersize=7 if on_front else 5)
        slot = round(x / span * 50)
        stacked[slot] = stacked.get(slot, -1) + 1
        ax.annotate(a["name"], (x, y), textcoords="offset points", xytext=(6, 4 + 11 * stacked[slot]), fontsize=8)
    front = sorted(((a[x_key] or 0.0, a["accuracy"]) for a in arms if a["name"] in front_names))
    if front:
        # A step line: between two frontier arms, the best accuracy affordable is the cheaper one's.
        ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="tab:red", alpha=0.5,
                label="Pareto frontier")
    if report.get("chance"):
        ax.axhline(report["chance"], color="tab:blue", linestyle=":", linewidth=1, label="chance")
    if front or report.get("chance"):
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel(x_label)
    ax.set_ylabel("accuracy (95% interval)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{report['title']}: accuracy vs {x_label}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path).name
