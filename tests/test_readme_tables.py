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


def test_readme_artifacts_table_is_the_one_of_the_recorded_rows():
    """docs/results/task_artifacts.json holds what scripts/experiments/task_artifacts.sh measured
    (written by `list_tasks --artifacts DIR --json`); the README shows exactly its table."""
    import json

    from omnireset_sim.list_tasks import artifacts_table

    rows = json.loads((README.parent / "docs" / "results" / "task_artifacts.json").read_text())["rows"]
    assert len(rows) >= 5
    assert artifacts_table(rows) in README.read_text(), (
        "README's per-task artifacts table is stale: paste `python -m omnireset_sim.list_tasks "
        "--from-json docs/results/task_artifacts.json`")
