"""The README's per-task table is the one generated from the TaskSpecs (list_tasks --markdown)."""

from __future__ import annotations

from pathlib import Path

from omnireset_sim.list_tasks import markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_task_table_is_generated_from_the_specs():
    table = markdown_table()
    assert table.count("\n") == 2 + 6  # header, rule, six tasks
    assert table in README.read_text(), ("README's task table is stale: paste the output of "
                                         "`python -m omnireset_sim.list_tasks --markdown`")
