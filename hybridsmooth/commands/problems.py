"""``hybridsmooth problems``: every problem a spec can name, with its keys and their defaults."""

from ..objectives.registry import describe_problems


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    print(describe_problems())
    return 0
