"""The report's PNGs: accuracy (95% interval bars) against training compute, training cost and (for
classification benches) inference compute per query, Pareto frontier marked.

Readable whatever the data: the axes are fitted to the intervals (not 0–100% for arms that all sit
near 25%), compute is shown in a unit that gives plain numbers (TFLOPs rather than "1e-3" PFLOPs),
every kind of mark has a legend entry, and the legend sits outside the plot so it covers no arm.
Arm names are placed one by one at the first candidate position (right, left, above, below, then
further out with a leader line) whose box overlaps no earlier name, no marker or interval bar and
stays inside the axes — CPU mini-benchmarks put several arms at the same compute.

Matplotlib's Agg backend is selected before pyplot is imported, so plotting works on machines with
no display (CI, SLURM nodes). Plots are small (≈ 50 KB) so docs can commit them.
"""
from __future__ import annotations

from pathlib import Path

FRONT_STYLE = dict(fmt="o", color="tab:red", markersize=7, capsize=4)
OTHER_STYLE = dict(fmt="s", color="tab:gray", markersize=5, capsize=4)
FLOP_UNITS = [(1.0, "PFLOPs"), (1e3, "TFLOPs"), (1e6, "GFLOPs"), (1e9, "MFLOPs")]
# label offsets in points from the point, ring by ring; farther rings get a leader line
DIRECTIONS = [(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)]
RINGS = [(8, 9), (20, 20), (34, 32), (50, 46)]
# which of the report's Pareto sets belongs to which x axis
FRONTS = {"pflops": "pareto_pflops", "cost_krw": "pareto_krw", "inference_gflops": "pareto_inference"}


def compute_unit(x_key: str, values: list[float]) -> tuple[float, str]:
    """(multiplier, unit name) so the largest value reads as a plain number (>= 1 where possible)."""
    if x_key == "inference_gflops":
        return 1.0, "GFLOPs"
    if x_key != "pflops":
        return 1.0, ""
    top = max(values, default=0.0)
    for scale, name in FLOP_UNITS:
        if top * scale >= 1.0:
            return scale, name
    return FLOP_UNITS[-1]


def _fit(lo: float, hi: float, pad_share: float, floor: float | None = None, ceil: float | None = None):
    span = (hi - lo) or max(abs(hi), 1.0) * 0.1
    lo, hi = lo - pad_share * span, hi + pad_share * span
    return (max(lo, floor) if floor is not None else lo), (min(hi, ceil) if ceil is not None else hi)


def draw_accuracy_vs(report: dict, x_key: str, x_label: str):
    """-> (figure, axes, {arm name: its label Annotation}); the caller saves or inspects it."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    arms = [a for a in report["arms"] if a["status"] == "ok"]
    front_names = set(report[FRONTS[x_key]] or [])
    scale, unit = compute_unit(x_key, [a[x_key] or 0.0 for a in arms])
    label = f"{x_label} ({unit})" if unit else x_label
    fig, ax = plt.subplots(figsize=(7.0, 4.8), dpi=100, layout="constrained")
    points = []
    for a in sorted(arms, key=lambda a: ((a[x_key] or 0.0), a["accuracy"])):
        x, y = (a[x_key] or 0.0) * scale, a["accuracy"]
        lo, hi = a["ci95"]
        on_front = a["name"] in front_names
        style = FRONT_STYLE if on_front else OTHER_STYLE
        ax.errorbar([x], [y], yerr=[[y - lo], [hi - y]], **style,
                    label="Pareto-optimal arm (95% interval)" if on_front else "dominated arm (95% interval)")
        points.append((a["name"], x, y, lo, hi))
    front = sorted((x, y) for name, x, y, _, _ in points if name in front_names)
    if len(front) > 1:
        # A step line: between two frontier arms, the best accuracy affordable is the cheaper one's.
        ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="tab:red", alpha=0.5,
                label="Pareto frontier")
    chance = report.get("chance")
    if chance:
        ax.axhline(chance, color="tab:blue", linestyle=":", linewidth=1, label=f"chance ({chance:.0%})")

    xs = [p[1] for p in points] or [0.0]
    ys = [v for p in points for v in p[2:]] + ([chance] if chance else [])
    # room on the right and above for names; accuracy never below 0 or above 100%
    ax.set_xlim(*_fit(min(xs), max(xs), 0.12))
    ax.set_ylim(*_fit(min(ys or [0.0]), max(ys or [1.0]), 0.15, floor=-0.005, ceil=1.005))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))   # 27.5%, not a rounded 28%
    ax.ticklabel_format(axis="x", style="plain", useOffset=False)   # the unit is in the label, no "1e-3"
    ax.set_xlabel(label)
    ax.set_ylabel("accuracy (95% interval)")
    ax.set_title(f"{report['title']}: accuracy vs {x_label}", fontsize=10)
    ax.grid(alpha=0.3)
    handles, names = ax.get_legend_handles_labels()
    unique = dict(zip(names, handles))   # one entry per kind of mark
    fig.legend(unique.values(), unique.keys(), loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    fig.canvas.draw()                    # settle the layout, then freeze it: labels are placed in pixels
    fig.set_layout_engine("none")
    labels = place_labels(fig, ax, points)
    return fig, ax, labels


def _marks(ax, points) -> list:
    """Pixel boxes of every marker and interval bar (what a name must not cover)."""
    from matplotlib.transforms import Bbox
    boxes = []
    for _, x, y, lo, hi in points:
        (px, py_lo), (_, py_hi) = ax.transData.transform([(x, lo), (x, hi)])
        boxes.append(Bbox([[px - 6, py_lo - 2], [px + 6, py_hi + 2]]))
    return boxes


def place_labels(fig, ax, points) -> dict:
    """Each name at its first clash-free candidate position; where none is free, the least bad one."""
    from matplotlib.text import Text
    renderer = fig.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    taken = _marks(ax, points)
    labels = {}
    for name, x, y, _, _ in points:
        best = None   # (clash area, annotation, text box)
        for ring, (dx, dy) in enumerate(RINGS):
            for ux, uy in DIRECTIONS:
                ann = ax.annotate(name, (x, y), textcoords="offset points", xytext=(ux * dx, uy * dy),
                                  fontsize=8, ha={1: "left", -1: "right", 0: "center"}[ux],
                                  va={1: "bottom", -1: "top", 0: "center"}[uy], annotation_clip=False,
                                  arrowprops=dict(arrowstyle="-", color="0.5", lw=0.6, shrinkA=0, shrinkB=4)
                                  if ring else None)
                ann.update_positions(renderer)
                box = Text.get_window_extent(ann, renderer).padded(2)   # the text alone, not its leader
                clash = sum(_overlap(box, other) for other in taken) + _outside(box, inside)
                if best is None or clash < best[0]:
                    if best is not None:
                        best[1].remove()
                    best = (clash, ann, box)
                else:
                    ann.remove()
                if clash == 0:
                    break
            if best[0] == 0:
                break
        taken.append(best[2])
        labels[name] = best[1]
    return labels


def _overlap(a, b) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def _outside(box, frame) -> float:
    """Area of `box` outside `frame` (0 when it fits)."""
    return box.width * box.height - _overlap(box, frame)


def plot_accuracy_vs(report: dict, x_key: str, x_label: str, path: Path) -> str:
    import matplotlib.pyplot as plt
    fig, _, _ = draw_accuracy_vs(report, x_key, x_label)
    fig.savefig(path)
    plt.close(fig)
    return Path(path).name
