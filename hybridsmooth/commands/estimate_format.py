"""Text layout of ``hybridsmooth estimate``: the block table, its CSV columns and the secant table."""

from __future__ import annotations

COLUMNS = (
    "block",
    "quantity",
    "estimate",
    "exact",
    "rel_err",
    "upper95",
    "residual",
    "rel_residual",
    "hvps",
    "seconds",
    "converged",
    "points",
)
# measured defects of finite-difference products, worst over the points (finite_difference rows only)
FD_COLUMNS = ("asymmetry", "nonlinearity")
SECANT_COLUMNS = ("step", "loss", "grad_norm", "step_x", "secant_x", "step_y", "secant_y")


def fmt(v) -> str:
    """One table cell: '-' for none, yes/NO for flags, ten significant digits or three after the point."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:.10g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"
    return str(v)


def table_columns(rows: list[dict]) -> tuple[str, ...]:
    """COLUMNS, plus the finite-difference defect columns when the rows carry them."""
    return COLUMNS + (FD_COLUMNS if rows and all(c in rows[0] for c in FD_COLUMNS) else ())


def _align(cells: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells)


def format_table(rows: list[dict]) -> str:
    columns = table_columns(rows)
    return _align([list(columns)] + [[fmt(r[c]) for c in columns] for r in rows])


def format_secants(secants: dict) -> str:
    """The header line and the per-step table of a secant run (``estimate_secants.secant_report``)."""
    header = (
        f"# secants along {len(secants['steps'])} hybrid steps on f_{secants['idx']} (eta_x={secants['eta_x']:g}, "
        f"eta_y={secants['eta_y']:g}, mu={secants['mu']:g}); each is a lower bound on sup ||H_bb|| over its segment"
    )
    body = [[fmt(float(s[c]) if c != "step" else s[c]) for c in SECANT_COLUMNS] for s in secants["steps"]]
    return header + "\n" + _align([list(SECANT_COLUMNS)] + body)


def format_unconverged(rows: list[dict], max_iter: int) -> list[str]:
    """One line per block whose solve stopped on its product budget before its relative residual met rtol:
    its value is then a Ritz value (a lower bound on the block norm for Lanczos), not a converged one."""
    lines = []
    for r in rows:
        if r["converged"]:
            continue
        lines.append(
            f"# {r['block']}: NOT converged: the product budget (--max-iter {max_iter} per solve) was spent at "
            f"relative residual {r['rel_residual']:.2e} > --rtol {r['rtol']:.0e}; {r['estimate']:.6g} is a lower "
            "bound of the block norm (raise --max-iter, or --rtol to what this budget reaches)"
        )
    return lines
