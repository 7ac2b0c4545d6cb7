"""Print the PEP case table: ``python -m hybridsmooth.theory.pep [quick|full]``."""

import argparse
import sys

import pandas as pd

from .cases import case_table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hybridsmooth.theory.pep", description=__doc__.splitlines()[0])
    # a choice, not any word: standard_cases reads every mode but "quick" as full, 25 minutes on two cores
    p.add_argument("mode", nargs="?", default="quick", choices=("quick", "full"), help="quick (default) or full")
    args = p.parse_args(argv)
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.float_format", "{:.4g}".format):
        print(case_table(args.mode).drop(columns=["accuracy"]).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
