"""Assumption measurements of THEORY 3, one module per assumption class, each with a ``check(...)`` that turns a
measurement into a ``CheckResult``:

* ``block_smooth``       (H1)/(H2) secant ratios (THEORY 3.1);
* ``block_descent``      (BD), the block-diagonal descent lemma (THEORY 3.2);
* ``generalized_smooth`` (G1)-(G3) and the power-law envelope of ell (THEORY 3.3);
* ``variance``           (V)/(R2) exact sample variances (THEORY 3.4, 6.1);
* ``joint``              (R1), the two-sided joint condition of Theorem R (THEORY 3.5).

Measurements take an objective of the ``hybridsmooth.objectives.base`` protocol and batched points (leading
dimensions allowed), so that one call covers 10^4 points. A maximum over sampled points is only a lower bound
on a supremum (THEORY 3.4). The numbered checks that use them (5, 6) live in ``theory.claims``.
"""

from .block_descent import bd_residual, hessian_excess
from .block_smooth import secant_ratio_x, secant_ratio_y
from .generalized_smooth import Ell, fit_power_envelope, generalized_smoothness_sides, side_ratio
from .joint import dense_hessian, joint_condition_range, joint_lambda_on_ray, joint_lambda_pareto
from .variance import sample_variance

__all__ = [
    "Ell",
    "bd_residual",
    "dense_hessian",
    "fit_power_envelope",
    "generalized_smoothness_sides",
    "hessian_excess",
    "joint_condition_range",
    "joint_lambda_on_ray",
    "joint_lambda_pareto",
    "sample_variance",
    "secant_ratio_x",
    "secant_ratio_y",
    "side_ratio",
]
