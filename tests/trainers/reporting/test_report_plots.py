"""The report plots stay readable when arms crowd: no arm name overlaps another name, a marker or
an interval bar, every name lies inside the axes, the axes fit the intervals (not 0-100% for arms
near 25%), compute is in a unit with plain numbers, and every kind of mark has a legend entry."""
import itertools

import pytest

from tests.trainers.reporting.test_report_gain_units import arm
from trainers.reporting.report_plots import _marks, compute_unit, draw_accuracy_vs
from trainers.reporting.reporting import build_report


def crowded_report() -> dict:
    # a CPU mini-bench: five arms at the same compute with close accuracies, one long name
    arms = [arm("base", 49, 0.0, 0.0, base=True)] + [arm(f"lora-r{8 * 2 ** i}", 48 + i, 0.5, 1e-3) for i in range(5)]
    arms += [arm("kd-logit-r8-from-full", 60, 0.52, 1.05e-3), arm("full", 50, 0.33, 8.9e-4)]
    report = build_report(arms, title="crowded")
    report["chance"] = 0.25
    return report


def overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.mark.parametrize("x_key,x_label", [("pflops", "training compute"), ("cost_krw", "training cost (KRW)")])
def test_labels_do_not_overlap_and_axes_fit(x_key, x_label):
    import matplotlib.pyplot as plt
    from matplotlib.text import Text
    report = crowded_report()
    fig, ax, labels = draw_accuracy_vs(report, x_key, x_label)
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    boxes = {name: Text.get_window_extent(ann, renderer) for name, ann in labels.items()}
    assert sorted(boxes) == sorted(a["name"] for a in report["arms"])
    for (n1, b1), (n2, b2) in itertools.combinations(boxes.items(), 2):
        assert not overlap(b1, b2), (n1, n2)
    scale, _ = compute_unit(x_key, [a[x_key] for a in report["arms"]])
    points = [(a["name"], a[x_key] * scale, a["accuracy"], *a["ci95"]) for a in report["arms"]]
    for name, box in boxes.items():
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, name
        assert not any(overlap(box, mark) for mark in _marks(ax, points)), name
    # axes fit the data: every interval and the chance line inside, and no 0-100% void around them
    lo, hi = ax.get_ylim()
    assert lo <= min(p[3] for p in points) and max(p[4] for p in points) <= hi and lo < 0.25 < hi
    assert hi - lo < 0.4
    x0, x1 = ax.get_xlim()
    assert x0 < min(p[1] for p in points) and max(p[1] for p in points) < x1
    assert ax.xaxis.get_offset_text().get_text() == ""      # no "1e-3" multiplier on the axis
    legend = {t.get_text() for t in fig.legends[0].get_texts()}
    assert legend == {"Pareto-optimal arm (95% interval)", "dominated arm (95% interval)", "Pareto frontier",
                      "chance (25%)"}
    plt.close(fig)


def test_compute_unit_gives_plain_numbers():
    assert compute_unit("pflops", [0.0, 7.1e-4, 1.14e-3]) == (1e3, "TFLOPs")
    assert compute_unit("pflops", [2.0, 40.0]) == (1.0, "PFLOPs")
    assert compute_unit("pflops", [3e-7]) == (1e9, "MFLOPs")
    assert compute_unit("cost_krw", [0.4]) == (1.0, "")
