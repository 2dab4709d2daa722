"""Bad input of the Isaac Lab backend, in any venv: a missing Isaac Lab says how to install it,
an unsupported version is refused with the version found and the supported range."""

from __future__ import annotations

import importlib.util

import pytest

from omnireset_sim.isaaclab import SUPPORTED_RANGE, IsaacLabUnavailable, check_version


def test_missing_isaaclab_says_how_to_install_it():
    with pytest.raises(IsaacLabUnavailable, match="not installed.*make isaaclab-setup"):
        check_version(None)


@pytest.mark.parametrize("version", ["2.3.2.post1", "3.1.0", "4.0.0"])
def test_unsupported_version_is_refused_with_the_version_and_the_range(version):
    with pytest.raises(IsaacLabUnavailable) as info:
        check_version(version)
    assert version in str(info.value) and SUPPORTED_RANGE in str(info.value)


@pytest.mark.parametrize("version", ["3.0.0", "3.0.2", "3.0.1+local"])
def test_supported_versions_pass(version):
    check_version(version)


@pytest.mark.skipif(importlib.util.find_spec("isaaclab") is not None, reason="Isaac Lab is installed here")
def test_train_engine_isaaclab_without_isaaclab_exits_2_with_one_line(capsys):
    from omnireset_sim.rl import train

    with pytest.raises(SystemExit) as info:
        train.main(["--engine", "isaaclab", "--max-iterations", "1"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Isaac Lab is not installed" in err[0] and "make isaaclab-setup" in err[0]


def _scene_xml(spec):
    from omnireset_sim.assets.arm import load_arm_kinematics
    from omnireset_sim.assets.scene import SceneConfig, build_scene_xml

    return build_scene_xml(spec, load_arm_kinematics(SceneConfig().arm), SceneConfig())


def test_every_task_scene_splits_into_the_four_usd_parts():
    import xml.etree.ElementTree as ET

    from omnireset_sim.isaaclab.usd_assets import split_scene
    from omnireset_sim.tasks import get_task, task_names

    for name in task_names():
        parts = split_scene(_scene_xml(get_task(name)))
        assert sorted(parts) == ["receptive", "robot", "table", "target"]
        robot = ET.fromstring(parts["robot"])
        assert len(robot.findall("actuator/motor")) == 6 and len(robot.findall("actuator/general")) == 1
        assert robot.find("equality/joint") is not None  # the finger coupling travels with the robot
        assert all(b.get("gravcomp") == "1.0" for b in robot.iter("body") if b.get("name") != "base_link")
        for key in ("target", "receptive", "table"):
            body = ET.fromstring(parts[key]).find("worldbody/body")
            assert body.get("mocap") is None and body.find("freejoint") is not None


def test_a_thread_is_carried_and_other_contact_bits_are_still_refused():
    """A thread's contact bits (its geoms touch only each other) are carried as collision groups
    (usd_assets; test_isaaclab_thread.py checks the USD and the physics); any other bits are refused
    with the geom named, not converted into a scene where they collide with everything."""
    import xml.etree.ElementTree as ET

    from omnireset_sim.isaaclab.usd_assets import UnsupportedCollisionBits, split_scene, thread_geom_names
    from omnireset_sim.tasks.leg_twisting.threaded import THREAD, THREADED_SPEC
    from omnireset_sim.tasks.thread import THREAD_CONTYPE

    parts = split_scene(_scene_xml(THREADED_SPEC))
    assert len(thread_geom_names(parts["target"])) == THREAD.starts
    assert len(thread_geom_names(parts["receptive"])) == len(THREAD.ridge_geoms())
    assert not thread_geom_names(parts["robot"]) and not thread_geom_names(parts["table"])
    root = ET.fromstring(_scene_xml(THREADED_SPEC))
    ridge = next(g for g in root.iter("geom") if g.get("contype") == str(THREAD_CONTYPE))
    ridge.set("conaffinity", "5")  # touches the thread and the robot: no group expresses that
    with pytest.raises(UnsupportedCollisionBits, match=rf"geoms \['{ridge.get('name')}'\] use their own contact bits"):
        split_scene(ET.tostring(root, encoding="unicode"))
