"""Zeroth-order gradient estimators and the in-place seed trick (THEORY 2.2, 4).

* ``estimators``: two-point estimators (central, forward, Rademacher SPSA), seeded private generators;
* ``moments``: exact moments on quadratics and the bounds of THEORY 4.1/4.2/4.4 as formulas;
* ``monte_carlo``: seeded Monte Carlo moments with standard errors and one-/two-sided verdicts;
* ``instances``: small test functions with known smoothing (quadratic, cos-sum, signed quadratic, log-cosh);
* ``inplace``: the MeZO in-place seed trick on lists of parameter tensors (perturb, forward, step, update);
* ``report``: ``python -m hybridsmooth.zo.report`` prints the measured numbers of checks 1, 2, 4, 16.
"""
