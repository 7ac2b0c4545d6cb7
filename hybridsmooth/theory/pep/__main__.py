"""Print the PEP case table: ``python -m hybridsmooth.theory.pep [quick|full]``."""

import sys

import pandas as pd

from .cases import case_table

if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "quick"
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.float_format", "{:.4g}".format):
        print(case_table(mode).drop(columns=["accuracy"]).to_string())
