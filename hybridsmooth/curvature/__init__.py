"""Curvature of the hybrid objective by Hessian-vector products: block spectra and smoothness constants.

THEORY.md section 3: block norms L_x, L_y (3.1) and the cross-block norm L_xy (3.1-3.2) at a point (all three
through ``block_constants``), the joint condition Lambda^-1/2 H Lambda^-1/2 (3.5), traces and spectral densities
per block, secant estimates and (L0, L1) generalized-smoothness fits (3.3), and suprema reported as lower bounds
with an upper confidence value (3.4).
"""

from .block_constants import BlockConstants, BlockEstimate, block_constants
from .defects import OperatorDefects, operator_defects
from .density import SpectralDensity, spectral_density
from .eigen import EigResult, eigsh_top, lanczos_top_eigs, power_iteration
from .envelope import (
    AffineFit,
    SupremumEstimate,
    bootstrap_affine_fit,
    fit_affine_envelope,
    fit_affine_quantile,
    g_safe,
    supremum_bound,
)
from .hvp import (
    BACKENDS,
    HessianAtPoint,
    NondeterministicObjectiveError,
    check_determinism,
    fd_relative_step,
    hessian_operator,
    hvp,
)
from .joint import (
    CrossNormResult,
    JointCondition,
    RayScale,
    bisect_scale,
    cross_norm,
    joint_condition,
    scaled_hessian,
    smallest_valid_lambda,
)
from .operators import HVPCounter, Operator, diagonal_scaled, dilation, gram, matrix_operator, to_dense
from .secant import (
    SecantEstimates,
    SecantRun,
    SecantStep,
    local_smoothness_pairs,
    secant_along_trajectory,
    secant_ratio,
    secant_run,
)
from .trace import TraceResult, hutchinson, hutchpp

__all__ = [
    "AffineFit",
    "BACKENDS",
    "BlockConstants",
    "BlockEstimate",
    "SecantRun",
    "SecantStep",
    "block_constants",
    "secant_run",
    "CrossNormResult",
    "EigResult",
    "HVPCounter",
    "HessianAtPoint",
    "JointCondition",
    "NondeterministicObjectiveError",
    "Operator",
    "RayScale",
    "SecantEstimates",
    "SpectralDensity",
    "SupremumEstimate",
    "TraceResult",
    "bisect_scale",
    "bootstrap_affine_fit",
    "check_determinism",
    "cross_norm",
    "OperatorDefects",
    "operator_defects",
    "diagonal_scaled",
    "dilation",
    "eigsh_top",
    "fd_relative_step",
    "fit_affine_envelope",
    "fit_affine_quantile",
    "g_safe",
    "gram",
    "hessian_operator",
    "hutchinson",
    "hutchpp",
    "hvp",
    "joint_condition",
    "lanczos_top_eigs",
    "local_smoothness_pairs",
    "matrix_operator",
    "power_iteration",
    "scaled_hessian",
    "secant_along_trajectory",
    "secant_ratio",
    "smallest_valid_lambda",
    "spectral_density",
    "supremum_bound",
    "to_dense",
]
