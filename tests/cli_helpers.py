"""Helpers for tests that run the `tfcalo` command in process (click's CliRunner)."""

from __future__ import annotations

from click.testing import CliRunner

from tfcalo.cli import main


def invoke(*args):
    """Run ``tfcalo ARGS...`` in process (arguments turned into strings)."""
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_sentence_error(result, *fragments):
    """Exit status 2, exactly one ``Error: ...`` line on stderr holding every fragment, and
    no traceback."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
