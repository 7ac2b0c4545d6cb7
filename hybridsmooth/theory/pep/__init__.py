"""Performance estimation (PEP) of Theorem R's FO / reshuffling skeleton: the tight worst case of its left-hand
side over every function meeting (R0)-(R2), against B_R and measured runs (the PEP design notes).

Needs the ``oracle`` extra (pepit, which brings cvxpy, SCS and Clarabel): ``pip install hybridsmooth[oracle]``.
The modules import pepit only when a PEP is built, so this package imports without it.

* ``solver`` -- the import guard, the open solvers with their stated accuracy, statuses instead of numbers;
* ``problems`` -- the PEPs (deterministic, RR over every permutation, (R2), Jacobi / Gauss-Seidel);
* ``cases`` -- the case table (DataFrame): PEP value, B_R, ratio, measured LHS, solver status.

Print the table: ``python -m hybridsmooth.theory.pep [quick|full]``.
"""

from .cases import case_table, counterexamples, skeleton_bound, standard_cases
from .problems import PEPCase, build_pep, pep_value, perm_sequences, reduces_to_one_function
from .solver import EXTRA_HINT, SolveResult, require_pepit, solve

__all__ = [
    "EXTRA_HINT",
    "PEPCase",
    "SolveResult",
    "build_pep",
    "case_table",
    "counterexamples",
    "pep_value",
    "perm_sequences",
    "reduces_to_one_function",
    "require_pepit",
    "skeleton_bound",
    "solve",
    "standard_cases",
]
