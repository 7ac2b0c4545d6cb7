"""hybridsmooth: put the hybrid-smoothness convergence theory of hybrid ZO/FO fine-tuning to the test.

The functions a notebook needs are importable from here (``hs.problem``, ``hs.block_constants``,
``hs.train``, ``hs.check``, ``hs.list_problems``); see :mod:`hybridsmooth.api`. They load on first use, so that
``import hybridsmooth`` and the command line stay quick.
"""

__version__ = "0.1.0"

_API = ("CheckReport", "block_constants", "check", "list_problems", "problem", "train")

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'hybridsmooth' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
