"""Every command the README and the figure indexes show is one their programs accept (documented_commands)."""

from __future__ import annotations

import documented_commands as doc_commands
import pytest
from documented_commands import Command, commands_in, documented_commands, documented_paths, parse_error, paths_in

COMMANDS = documented_commands()


def test_the_documents_show_commands_of_every_kind():
    texts = [c.text for c in COMMANDS]
    assert len(texts) > 60
    assert any(t.startswith("hybridsmooth claim run") for t in texts)
    assert any("-m hybridsmooth.distributed" in t for t in texts)
    assert any(t.startswith("torchrun") for t in texts)
    assert sum("benchmarks/" in t for t in texts) > 15


PATHS = documented_paths()


def test_every_repository_path_the_documents_name_exists():
    assert len(PATHS) > 50
    missing = [str(p) for p in PATHS if not (doc_commands.ROOT / p.text).exists()]
    assert not missing, "\n".join(missing)


def test_the_path_check_reads_spans_outside_fenced_blocks_only():
    text = "See `figures/fig3_targets.csv` and\n```\nls `figures/inside_a_block.csv`\n```\nthen `docs/_build/html`."
    assert [(p.line, p.text) for p in paths_in(text, "doc")] == [(1, "figures/fig3_targets.csv")]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: f"{c.document}:{c.line}")
def test_a_documented_command_parses(command: Command):
    assert parse_error(command) is None, f"{command}\n-> {parse_error(command)}"


def test_the_check_finds_what_a_reader_would_trip_on():
    text = "\n".join(
        [
            "Run `hybridsmooth train quadratic:dx=4 --epochs 2 --no-such-flag` or",
            "`hybridsmooth estimate llm:model=minilm,",
            "n_train=8 --rtol 1e-2`, see `hybridsmooth train` (a mention, not a command).",
            "```",
            "hybridsmooth claim run --out DIR --workers two   # not a number",
            "python benchmarks/hvp_cost.py --blocks xx \\",
            "    --iters 8",
            "MALLOC_MMAP_MAX_=0 benchmarks/no_such_bench.py",
            "hybridsmooth estimate SPEC --reorth auto|sideways",
            "```",
        ]
    )
    found = commands_in(text, "doc")
    assert [c.line for c in found] == [1, 2, 5, 6, 8, 9]
    errors = [parse_error(c) for c in found]
    assert "unrecognized arguments: --no-such-flag" in errors[0]
    assert "unrecognized arguments: n_train=8" in errors[1]  # the span's line break shows as a space
    assert "invalid int value: 'two'" in errors[2]
    assert errors[3] is None  # joined across its backslash
    assert "no such script" in errors[4]
    assert "invalid choice: 'sideways'" in errors[5]


def test_a_program_that_runs_past_its_parser_is_stopped_and_named(tmp_path, monkeypatch):
    script = tmp_path / "loops.py"
    script.write_text("import sys, time\nmode = sys.argv[1]\nwhile True:\n    time.sleep(0.05)\n")
    monkeypatch.setattr(doc_commands, "PARSE_SECONDS", 1)
    assert "does not stop at an argparse parser" in doc_commands._parse("path", str(script), ["full"])
