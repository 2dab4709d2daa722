"""config/cameras.yaml and the camera nodes of graph.real_graph (real.launch.py) against what
realsense2_camera declares (fixtures/realsense2_camera_jazzy.yaml: data written down from its
Jazzy release sources, with the commit). Plain Python: neither librealsense nor the node is needed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from omnireset_bringup import graph

HERE = Path(__file__).resolve().parent
CAMERAS_YAML = HERE.parent / "config" / "cameras.yaml"
FIX = yaml.safe_load((HERE / "fixtures" / "realsense2_camera_jazzy.yaml").read_text())
# Models of the three cameras (cameras.yaml's header; front D435, side D455, wrist D415).
MODELS = {"front": "D435", "side": "D455", "wrist": "D415"}


@pytest.fixture(scope="module")
def params():
    doc = yaml.safe_load(CAMERAS_YAML.read_text())
    return doc["/**"]["ros__parameters"]


def test_every_parameter_we_set_is_one_the_node_takes(params):
    node_params = set(FIX["rs_launch_parameters"]) - set(FIX["launch_only"])
    assert set(params) <= node_params, set(params) - node_params


def test_the_color_profile_parses_as_the_node_parses_it(params):
    for cam, model in MODELS.items():
        module = FIX["color_module"][model]
        key = f"{module}.color_profile"
        assert key in params, f"{cam} ({model}) takes its colour profile as {key}"
        m = re.fullmatch(FIX["profile_regex"], params[key])
        assert m, params[key]
        width, height, fps = (int(x) for x in m.groups())
        assert (width, height, fps) == (640, 480, 30)
        assert f"{module}.color_format" in params


def test_the_color_format_is_rgb8(params):
    assert params["rgb_camera.color_format"].upper() == FIX["color_format_default"] == "RGB8"


def test_only_the_color_stream_is_enabled(params):
    enabled = {k: v for k, v in params.items() if k in FIX["stream_enable_parameters"]}
    assert enabled.pop("enable_color") is True
    # The node's defaults (rs_launch.py) turn depth on: we switch it off, and every other stream.
    assert FIX["rs_launch_parameters"]["enable_depth"] == "true" and enabled["enable_depth"] is False
    assert not any(enabled.values())
    assert params["publish_tf"] is False  # our static extrinsics publish the camera frames


def test_camera_nodes_and_topics_are_named_as_the_node_names_them():
    nodes = {n.name: n for n in graph.real_graph(policy_dir="/tmp/p", camera_serials={"front": "123456789012"})}
    for cam in graph.CAMERAS:
        spec = nodes[cam]
        assert (spec.package, spec.executable) == (FIX["package"], FIX["executable"])
        assert spec.namespace == graph.CAMERA_NAMESPACE and spec.parameter_files == ["cameras.yaml"]
        # "~/color/image_raw" of node <cam> in namespace <ns>; colour is not rectified.
        topic = FIX["topics"]["image"].format(stream="color").replace("~", f"/{spec.namespace}/{spec.name}")
        assert graph.camera_topic(cam) == topic
    assert not FIX["lifecycle_node_by_default"]  # publishes without a lifecycle transition
    # serial_no is a string parameter: quoted so a numeric serial stays a string.
    assert "serial_no" in FIX["string_parameters"]
    assert nodes["front"].parameters == {"serial_no": "'123456789012'"}
    assert "serial_no" not in nodes["side"].parameters


def test_launch_cameras_false_starts_none_and_tells_the_policy():
    nodes = {n.name: n for n in graph.real_graph(policy_dir="/tmp/p", cameras=False)}
    assert not set(graph.CAMERAS) & set(nodes)
    assert nodes["policy"].parameters["available_cameras"] == [""]
