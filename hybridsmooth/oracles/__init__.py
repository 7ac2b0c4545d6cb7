"""Outside oracles: published packages that compute the same curvature quantities by code of their own.

The project's estimators are checked against closed forms wherever one exists; on a real model there is
none, so independent implementations are the reference:

* :mod:`.curvlinops_blocks` -- curvlinops' Hessian operator (``torch.func`` forward-over-reverse, not our
  double backward through a parameter swap) restricted to each block, solved by scipy's ARPACK: L_x, L_y
  and sigma_max(H_xy).
* :mod:`.pyhessian_power` -- PyHessian's power iteration (its published 0.1 package) on one block, with
  every iterate logged.

Both are optional: the ``oracle`` extra carries what is safe to resolve, and the two packages whose declared
requirements would pull another torch (curvlinops declares backpack-for-pytorch, which requires torchvision;
PyHessian an unpinned torch) are installed without dependencies, as ``make install`` does. A missing one is a
one-line error saying both.
"""

from __future__ import annotations

import importlib.util

from ..errors import UsageError

EXTRA = "oracle"
NO_DEPS = {"curvlinops": "curvlinops-for-pytorch==3.0.1", "pyhessian": "PyHessian==0.1"}


def install_hint(module: str) -> str:
    pin = NO_DEPS.get(module)
    extra = f"pip install hybridsmooth[{EXTRA}]"
    return f"{extra} && pip install --no-deps {pin}" if pin else extra


def require(module: str, what: str) -> None:
    """Raise a one-line UsageError saying how to install ``module`` when it is missing."""
    if importlib.util.find_spec(module) is None:
        raise UsageError(f"{what} needs {module}: {install_hint(module)}")
