"""plot_training: success per reset type vs wall-clock from runs' metrics.jsonl, with final eval points."""

import json

from omnireset_sim.rl import plot_training


def _run(tmp_path, name, rates):
    run = tmp_path / name
    run.mkdir()
    lines = [json.dumps({"iteration": i + 1, "wall_s": 60.0 * (i + 1), "success": r,
                         "episodes": {k: 10 for k in r}, "action_std": 0.5 + 0.1 * i, "learning_rate": 1e-4,
                         "losses": {"entropy": 9.0}}) for i, r in enumerate(rates)]
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return run


def test_smoothing_weights_episodes_over_the_window(tmp_path):
    run = _run(tmp_path, "a", [{"near_goal": 0.0}, {"near_goal": 1.0}, {"near_goal": 1.0}])
    t, r = plot_training.smoothed(plot_training.read_metrics(run), "near_goal", window=2)
    assert t == [1.0, 2.0, 3.0] and r == [0.0, 0.5, 1.0]
    assert plot_training.smoothed(plot_training.read_metrics(run), "reaching", window=2) == ([], [])


def test_plot_writes_png_and_record_and_refuses_bad_input(tmp_path, capsys):
    a = _run(tmp_path, "a", [{"reaching": 0.0, "near_goal": 0.5}] * 3)
    b = _run(tmp_path, "b", [{"reaching": 0.1}] * 3)
    ev = tmp_path / "eval.json"
    ev.write_text(json.dumps({"results": {"a/model_3": {"near_goal": {"success_rate": 0.9, "ci95": [0.8, 0.95],
                                                                      "successes": 115, "episodes": 128}}}}))
    out = tmp_path / "plots" / "curves.png"
    diag = tmp_path / "plots" / "diag.png"
    assert plot_training.main([str(a), str(b), "--labels", "A", "B", "--eval", str(ev), str(ev),
                               "--out", str(out), "--diagnostics", str(diag)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and diag.read_bytes()[:4] == b"\x89PNG"
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["labels"] == ["A", "B"] and record["made_by"] == "omnireset_sim.rl.plot_training"
    capsys.readouterr()
    assert plot_training.main([str(tmp_path / "nope"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "metrics.jsonl does not exist" in err
    (a / "metrics.jsonl").write_text("{broken\n")
    assert plot_training.main([str(a), "--out", str(out)]) == 2
    assert "not a JSON line" in capsys.readouterr().err
