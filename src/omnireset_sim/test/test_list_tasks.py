"""`list_tasks --artifacts DIR`: the README's per-task artifacts table, read from the artifacts' metadata."""

import json

import numpy as np
import pytest

from omnireset_sim.list_tasks import artifacts_table, main
from omnireset_sim.resets import dataset, grasps, partial_assemblies
from omnireset_sim.resets.artifacts import base_meta, write_artifact


def _stage_files(root, task="cube_stacking", near_goal=7):
    d = root / task
    arrays = {"x": np.zeros((2, 3))}
    write_artifact(d / "grasps.npz", arrays, base_meta(grasps.GRASP_FORMAT, grasps.GRASP_FORMAT_VERSION,
                                                       count=1000, candidates=1273))
    write_artifact(d / "partial_assemblies.npz", arrays,
                   base_meta(partial_assemblies.ASSEMBLY_FORMAT, partial_assemblies.ASSEMBLY_FORMAT_VERSION, count=500))
    write_artifact(d / "easy.npz", arrays, base_meta(
        dataset.DATASET_FORMAT, dataset.DATASET_FORMAT_VERSION,
        counts={"reaching": 10, "near_object": 9, "stable_grasp": 8, "near_goal": near_goal},
        attempts={"reaching": 12, "near_object": 40, "stable_grasp": 11, "near_goal": 9000}))
    cell = {"episodes": 128, "successes": 64, "success_rate": 0.5, "ci95": [0.414, 0.586]}
    results = {"reaching (default sampler)": {**cell, "successes": 128, "ci95": [0.971, 1.0]},
               "reaching": cell, "near_object": cell, "stable_grasp": cell,
               "near_goal": {**cell, "successes": 3, "ci95": [0.008, 0.066]}}
    (d / "eval").mkdir()
    (d / "eval" / "by_reset_type.json").write_text(json.dumps({"results": {"oracle_cube_stacking": results}}))
    return d


def test_the_table_reads_every_stage_from_its_metadata(tmp_path):
    _stage_files(tmp_path)
    lines = artifacts_table(tmp_path).splitlines()
    assert len(lines) == 3  # header, rule, the one task made (others are left out)
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    assert cells[:4] == ["cube_stacking", "1000 / 1273", "500", "10, 9, 8, 7 / 12, 40, 11, 9000"]
    assert cells[4] == "128/128 [0.97, 1.00]" and cells[5] == "64/128 [0.41, 0.59]" and cells[8] == "3/128 [0.01, 0.07]"
    assert cells[9] == "16 s"  # the task's episode (the evaluation used none of its own)


def test_a_missing_stage_or_a_corrupt_artifact_is_one_line_and_exit_2(tmp_path, capsys):
    d = _stage_files(tmp_path)
    (d / "eval" / "by_reset_type.json").unlink()
    with pytest.raises(ValueError, match=r"cube_stacking: missing .*by_reset_type.json"):
        artifacts_table(tmp_path)
    assert main(["--artifacts", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("list_tasks: error: cube_stacking: missing ")
    d = _stage_files(tmp_path / "b")
    (d / "grasps.npz").write_bytes(b"not a zip")
    assert main(["--artifacts", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "grasps.npz" in err[0] and "Traceback" not in err[0]


def test_the_rows_written_with_json_print_the_same_table(tmp_path, capsys):
    _stage_files(tmp_path / "made")
    out = tmp_path / "rows.json"
    assert main(["--artifacts", str(tmp_path / "made"), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed == artifacts_table(tmp_path / "made")
    assert json.loads(out.read_text())["rows"][0]["kept"]["near_goal"] == 7
    assert main(["--from-json", str(out)]) == 0
    assert capsys.readouterr().out == printed
    out.write_text("{not json")
    assert main(["--from-json", str(out)]) == 2
    assert capsys.readouterr().err.startswith("list_tasks: error: ")
