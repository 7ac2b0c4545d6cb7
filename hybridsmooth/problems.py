"""Problem spec strings -> objectives: the public names of ``hybridsmooth.objectives.registry``.

The table of every problem (builder, summary, key rules, example spec) and the spec parsing live there;
this module only re-exports them for the many callers that import ``hybridsmooth.problems``.
"""

from .objectives.registry import REGISTRY, describe_problems, make_problem, parse_spec

__all__ = ["REGISTRY", "describe_problems", "make_problem", "parse_spec"]
