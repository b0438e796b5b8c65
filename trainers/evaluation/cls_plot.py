"""Confusion matrix as a PNG with readable Korean tick labels.

Matplotlib's default DejaVu font has no Hangul (labels would print as boxes). The font is found in
this order: an installed Korean system font (fc-list :lang=ko finds one on most desktops), then the
NanumGothic file shipped inside the `koreanize-matplotlib` wheel (a kdtune dependency, so pip alone
provides it in CI — no apt, no network at run time), and only if neither exists, romanised labels
(Revised Romanization, letter by letter, no sound-change rules). The choice is returned so eval.json
records which was used.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

KOREAN_FAMILIES = ("NanumGothic", "NanumBarunGothic", "Noto Sans CJK KR", "Noto Sans KR", "Malgun Gothic",
                   "Apple SD Gothic Neo", "AppleGothic", "UnDotum", "Baekmuk Gulim")
_INITIALS = "g kk n d tt r m b pp s ss _ j jj ch k t p h".split()
_MEDIALS = "a ae ya yae eo e yeo ye o wa wae oe yo u wo we wi yu eu ui i".split()
_FINALS = ["", *"k k k n n n t l k m l l l p l m p p t t ng t t k t p t".split()]


def romanise(text: str) -> str:
    """Hangul syllables -> Revised Romanization (per syllable); anything else is kept ('·' -> '-')."""
    out = []
    for ch in text:
        code = ord(ch) - 0xAC00
        if 0 <= code < 11172:
            ini, med, fin = code // 588, (code % 588) // 28, code % 28
            out.append(_INITIALS[ini].strip("_") + _MEDIALS[med] + _FINALS[fin])
        else:
            out.append("-" if ch == "·" else ch)
    return "".join(out)


def korean_font() -> tuple[str | None, str]:
    """-> (font file or None, how it was found)."""
    from matplotlib import font_manager
    for entry in font_manager.fontManager.ttflist:
        if entry.name in KOREAN_FAMILIES:
            return entry.fname, f"system font {entry.name}"
    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            ttf = Path(folder) / "fonts" / "NanumGothic.ttf"
            if ttf.is_file():
                return str(ttf), "NanumGothic from koreanize-matplotlib"
    return None, "no Korean font found: tick labels romanised"


def plot_confusion(conf: dict, path: Path, title: str) -> str:
    """Write the PNG (counts in cells, colour = share of the gold row); returns how labels were drawn."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    font_file, how = korean_font()
    prop = font_manager.FontProperties(fname=font_file) if font_file else None
    name = (lambda s: s) if font_file else romanise
    m, k = conf["matrix"], len(conf["labels"])
    cols = list(range(k)) + ([k] if any(row[k] for row in m) else [])   # the no-label column only if used
    shares = [[row[j] / max(sum(row), 1) for j in cols] for row in m]
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * len(cols), 1.2 + 0.6 * k), dpi=110)
    ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    for i, row in enumerate(m):
        for c, j in enumerate(cols):
            ax.text(c, i, str(row[j]), ha="center", va="center", fontsize=9,
                    color="white" if shares[i][c] > 0.6 else "black")
    ax.set_xticks(range(len(cols)), [name(conf["columns"][j]) for j in cols], rotation=45, ha="right",
                  fontproperties=prop)
    ax.set_yticks(range(k), [name(lab) for lab in conf["labels"]], fontproperties=prop)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return how
