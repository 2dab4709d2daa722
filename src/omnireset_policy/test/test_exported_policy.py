"""Exported-policy format: save/load round trip, every refusal names its reason, scripted demo."""

from __future__ import annotations

import math

import pytest
import torch
import yaml

from omnireset_policy import observation_layout as layout
from omnireset_policy.export_scripted import ScriptedReachPolicy, export_scripted, main as export_main
from omnireset_policy.exported_policy import (ExportedPolicyError, load_exported_policy, make_metadata,
                                              save_exported_policy)
from omnireset_policy.student_network import make_random_rgb_policy


class _Const(torch.nn.Module):
    def __init__(self, value: float):
        super().__init__()
        self.value = value

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.full((obs.shape[0], 7), self.value)


def _meta(**over):
    meta = make_metadata(kind="state", task="t", variant="v", robot="ur7e", action_scale=[0.02] * 6,
                         gains_kp=[1.0] * 6, gains_zeta=[1.0] * 6, seed=1, made_by="test")
    meta.update(over)
    return meta


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    return export_scripted(tmp_path_factory.mktemp("p") / "scripted")


def test_roundtrip_keeps_metadata_and_outputs(tmp_path):
    path = save_exported_policy(_Const(0.25), _meta(), tmp_path / "const")
    policy = load_exported_policy(path)
    assert policy.kind == "state" and policy.action_scale == (0.02,) * 6
    assert policy.metadata["provenance"]["made_by"] == "test"
    out = policy.modules["policy"](torch.zeros(2, layout.POLICY_OBS_DIM))
    assert torch.equal(out, torch.full((2, 7), 0.25))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["const"]  # no temp dirs left behind


def test_save_refuses_existing_dir_and_nan_policy_leaves_nothing(tmp_path):
    save_exported_policy(_Const(0.0), _meta(), tmp_path / "p")
    with pytest.raises(ExportedPolicyError, match="exists"):
        save_exported_policy(_Const(0.0), _meta(), tmp_path / "p")
    with pytest.raises(ExportedPolicyError, match="NaN"):
        save_exported_policy(_Const(math.nan), _meta(), tmp_path / "nan")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]
    save_exported_policy(_Const(0.5), _meta(), tmp_path / "p", overwrite=True)
    assert float(load_exported_policy(tmp_path / "p").modules["policy"](torch.zeros(1, 245))[0, 0]) == 0.5


@pytest.mark.parametrize("mutate, reason", [
    (lambda d: (d / "policy.pt").unlink(), "policy.pt is missing"),
    (lambda d: (d / "metadata.yaml").unlink(), "metadata.yaml is missing"),
    (lambda d: (d / "policy.pt").write_bytes(b"not a zip archive"), "not a loadable TorchScript"),
    (lambda d: (d / "metadata.yaml").write_text("a: [unclosed"), "not valid YAML"),
])
def test_broken_files_are_refused_with_reason(scripted, tmp_path, mutate, reason):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(scripted, copy)
    mutate(copy)
    with pytest.raises(ExportedPolicyError, match=reason):
        load_exported_policy(copy)


@pytest.mark.parametrize("edit, reason", [
    (lambda m: m.update(format="other"), "format is 'other'"),
    (lambda m: m.update(format_version=2), "format_version 2 is not supported"),
    (lambda m: m.update(kind="depth"), "kind 'depth'"),
    (lambda m: m["observation"].update(history_length=3), "history_length is 3"),
    (lambda m: m["observation"]["terms"].reverse(), "terms"),
    (lambda m: m["action"].update(scale=[0.1] * 5), "action.scale must be a list of 6"),
    (lambda m: m["action"].update(scale=[0.1] * 5 + [float("nan")]), "non-finite"),
    (lambda m: m.pop("provenance"), "missing provenance"),
])
def test_bad_metadata_is_refused_with_reason(scripted, tmp_path, edit, reason):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(scripted, copy)
    meta = yaml.safe_load((copy / "metadata.yaml").read_text())
    edit(meta)
    (copy / "metadata.yaml").write_text(yaml.safe_dump(meta))
    with pytest.raises(ExportedPolicyError, match=reason):
        load_exported_policy(copy)


def test_missing_directory_is_refused(tmp_path):
    with pytest.raises(ExportedPolicyError, match="does not exist"):
        load_exported_policy(tmp_path / "nope")


def _obs_with_target(target_in_base, ee_pos=(0.5, 0.0, 0.3)):
    # TCP pointing down (rotation pi about x), so TCP-frame and base-frame vectors differ
    ee_rot = torch.tensor([[[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]]], dtype=torch.float64)
    ee = torch.tensor([ee_pos], dtype=torch.float64)
    target = ee + torch.tensor([target_in_base], dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64).unsqueeze(0)
    frame = layout.policy_frame(torch.zeros(1, 6, dtype=torch.float64), ee, ee_rot, target, eye,
                                torch.tensor([[0.3, 0.2, 0.0]], dtype=torch.float64), eye,
                                torch.zeros(1, 7, dtype=torch.float64))
    return frame.repeat(1, layout.HISTORY_LENGTH).float()


def test_scripted_policy_hovers_then_descends_and_closes_when_near(scripted):
    policy = load_exported_policy(scripted).modules["policy"]
    far = policy(_obs_with_target((0.004, -0.1, -0.2)))[0]
    # far horizontally: aims 5 cm above the object, steps saturate towards it (base frame)
    assert far[1] == -1.0 and far[2] == -1.0 and far[0] == pytest.approx(0.004 / 0.02, abs=1e-5)
    assert far[6] > 0 and torch.all(far[3:6] == 0)
    above = policy(_obs_with_target((0.0, 0.0, -0.01)))[0]
    assert above[2] == pytest.approx(-0.5, abs=1e-5)  # descends directly once aligned
    at = policy(_obs_with_target((0.002, 0.0, -0.003)))[0]
    assert at[6] < 0  # within 1 cm: close (negative closes)
    eager = ScriptedReachPolicy(gain=0.5)
    assert eager(_obs_with_target((0.0, 0.0, -0.01)))[0, 2] == pytest.approx(-0.25, abs=1e-5)


def test_export_cli_writes_and_refuses_overwrite(tmp_path, capsys):
    assert export_main(["--out", str(tmp_path / "cli")]) == 0
    assert load_exported_policy(tmp_path / "cli").metadata["variant"] == "scripted_reach"
    assert export_main(["--out", str(tmp_path / "cli")]) == 1
    assert "exists" in capsys.readouterr().err


def test_rgb_export_roundtrip_and_feature_dim_mismatch(tmp_path):
    path = make_random_rgb_policy(tmp_path / "rgb", image_size=(32, 32))
    policy = load_exported_policy(path)
    assert policy.kind == "rgb" and set(policy.modules) == {"encoder", "head"}
    assert policy.cameras["names"] == ["wrist", "front", "side"] and policy.cameras["frame_stack"] == 5
    meta = yaml.safe_load((path / "metadata.yaml").read_text())
    meta["observation"]["cameras"]["feature_dim"] = 99
    (path / "metadata.yaml").write_text(yaml.safe_dump(meta))
    with pytest.raises(ExportedPolicyError, match="feature_dim 99"):
        load_exported_policy(path)
    (path / "head.pt").unlink()
    with pytest.raises(ExportedPolicyError, match="head.pt is missing"):
        load_exported_policy(path)
