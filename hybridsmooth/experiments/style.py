"""One matplotlib style for every figure: method names, colours and line styles are the same everywhere.

Figures are for reading: labelled axes with units, log scales where the data spans decades, a shaded band for
the spread over seeds. Plotting functions take their names from here, never from literals of their own.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # figures are written to files; no display is needed or wanted
import matplotlib.pyplot as plt  # noqa: E402

METHOD_LABELS: dict[str, str] = {
    "hybrid": "Hybrid (ZO x + FO y)",
    "fo_peft": "FO-PEFT",
    "fo_full": "FO-Full",
    "zo_full": "ZO-Full (MeZO)",
    "zo_peft": "ZO-PEFT",
}
METHOD_COLORS: dict[str, str] = {
    "hybrid": "#d62728",
    "fo_peft": "#1f77b4",
    "fo_full": "#2ca02c",
    "zo_full": "#9467bd",
    "zo_peft": "#ff7f0e",
}
# theory curves (predictions) are black/grey and dashed; measurements are coloured and solid
THEORY_COLOR, MEASURED_COLOR, SECOND_COLOR = "black", "#d62728", "#1f77b4"
# Hessian blocks: the full-model block x, the adapter block y and the cross block xy
BLOCK_COLORS: dict[str, str] = {"x": MEASURED_COLOR, "y": SECOND_COLOR, "xy": THEORY_COLOR}
THEORY_LINESTYLE = "--"
SPREAD_ALPHA = 0.25
DPI = 130

RC: dict[str, object] = {
    "figure.figsize": (6.4, 4.6),
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8.5,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linestyle": ":",
    "savefig.bbox": "tight",
}


def method_label(method: str) -> str:
    """The display name of a method; unknown names are an error so that no figure invents its own."""
    if method not in METHOD_LABELS:
        raise ValueError(f"unknown method {method!r}; accepted: {', '.join(METHOD_LABELS)}")
    return METHOD_LABELS[method]


def new_figure(*, ncols: int = 1, width: float | None = None, height: float | None = None, width_ratios=None):
    """(fig, axes) under the project style; axes is a list even for one panel."""
    with plt.rc_context(RC):
        w = width if width is not None else 6.4 * ncols
        h = height if height is not None else 4.6
        fig, axes = plt.subplots(1, ncols, figsize=(w, h), squeeze=False, width_ratios=width_ratios)
    for ax in axes[0]:
        ax.grid(True, alpha=0.3, linestyle=":")
    return fig, list(axes[0])


def save_figure(fig, png_path) -> None:
    """Write the PNG and release the figure (many figures in one process must not accumulate)."""
    with plt.rc_context(RC):
        fig.savefig(png_path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
