"""The Isaac Lab backend's PhysX randomization glue, checked without PhysX (no Isaac Sim here).

Two parts:
- the meaning (main venv and .venv-isaaclab): engine.dynamics_targets, the per-world values both
  physics branches of IsaacLabEngine.set_dynamics write, against what MujocoEngine.set_dynamics
  writes into its per-world MjModels for the same draw; PhysX's nominal drive gains against the MJCF
  servo's; and the two kit-free PhysX helpers (shape columns of an articulation's links, the
  material tensor write).
- the API names (only where Isaac Lab is installed; skipped elsewhere, saying so): every Isaac Lab
  method, property and keyword argument that the PhysX branch (and the smoke check's read-back)
  uses must exist in the installed Isaac Lab 3.0 PhysX backend, so a renamed API fails here and not
  on the GPU machine. isaaclab_physx imports Kit's `carb` at import time, so its classes are read
  from their source (ast); the base classes come from isaaclab, which imports without Kit. Names on
  PhysX tensor views (omni.physics.tensors, Kit only) must be ones Isaac Lab's own PhysX backend calls.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
from pathlib import Path

import numpy as np
import pytest
import torch

from omnireset_sim.envs.mujoco_engine import MujocoEngine
from omnireset_sim.isaaclab import engine as il_engine
from omnireset_sim.isaaclab import physx as il_physx
from omnireset_sim.isaaclab.engine import FRICTION_GROUPS, dynamics_targets
from omnireset_sim.isaaclab.physx import shape_columns, write_friction
from omnireset_sim.mdp.events import RandomizationCfg, resample_actuation, sample_startup
from omnireset_sim.tasks import get_task

NUM_ENVS = 3


# ---- the meaning ---------------------------------------------------------------------------------
def _mujoco_draw():
    eng = MujocoEngine(get_task("peg_insertion"), NUM_ENVS)
    cfg, g = RandomizationCfg.finetune(), torch.Generator().manual_seed(7)
    params = sample_startup(cfg, eng.nominal, NUM_ENVS, g)
    resample_actuation(cfg, eng.nominal, params, g)
    return eng, params


def _nominal_from(m, ids, g_act) -> dict:
    """The nominal dict of dynamics_targets from a MuJoCo model (what Isaac Lab's data holds per world)."""
    rb, tb = ids["robot_bodies"], ids["target_body"]

    def inertia9(b):  # MuJoCo's principal inertia as Isaac Lab's flattened 3x3
        return torch.diag_embed(torch.tensor(m.body_inertia[b])).reshape(len(b), 9)

    rep = lambda x: x[None].expand(NUM_ENVS, *x.shape).clone()  # noqa: E731
    return {
        "robot_mass": rep(torch.tensor(m.body_mass[rb])), "robot_inertia": rep(inertia9(rb)),
        "target_mass": rep(torch.tensor(m.body_mass[tb])), "target_inertia": rep(inertia9(tb)),
        "gripper_kp": float(m.actuator_gainprm[g_act, 0]), "gripper_kv": float(-m.actuator_biasprm[g_act, 2]),
    }


def test_dynamics_targets_are_what_the_mujoco_engine_writes():
    eng, params = _mujoco_draw()
    ids = torch.tensor([2, 0])  # a subset in a non-sorted order: rows of params follow env_ids
    sub = params.index(ids)
    eng.set_dynamics(ids, sub)
    nominal = _nominal_from(eng.model, eng._ids, eng._gripper_act)
    t = dynamics_targets(sub, nominal, ids, dtype=torch.float64)
    # The draw is not the nominal model (else this test could not fail).
    assert not torch.allclose(t["robot_mass"], nominal["robot_mass"][ids])
    assert (sub.robot_friction[:, 1] < sub.robot_friction[:, 0]).any()  # PhysX's dynamic column differs
    geoms = {"robot": "robot_geoms", "target": "target_geoms", "receptive": "receptive_geoms",
             "table": "table_geoms"}
    for row, env in enumerate(ids.tolist()):
        m = eng.models[env]
        for group, _ in FRICTION_GROUPS:
            # MuJoCo has one sliding coefficient: the static one (column 0).
            np.testing.assert_allclose(m.geom_friction[eng._ids[geoms[group]], 0], float(t["friction"][group][row, 0]),
                                       rtol=1e-12)
        rb, tb = eng._ids["robot_bodies"], eng._ids["target_body"]
        np.testing.assert_allclose(m.body_mass[rb], t["robot_mass"][row].numpy(), rtol=1e-12)
        diag = lambda x: x.reshape(-1, 3, 3).diagonal(dim1=1, dim2=2)  # noqa: E731
        np.testing.assert_allclose(m.body_inertia[rb], diag(t["robot_inertia"][row]), rtol=1e-12)
        np.testing.assert_allclose(m.body_mass[tb], t["target_mass"][row].numpy(), rtol=1e-12)
        np.testing.assert_allclose(m.body_inertia[tb], diag(t["target_inertia"][row]), rtol=1e-12)
        np.testing.assert_allclose(m.dof_frictionloss[eng._arm_dof], t["joint_friction"][row].numpy(), rtol=1e-12)
        np.testing.assert_allclose(m.dof_armature[eng._arm_dof], t["joint_armature"][row].numpy(), rtol=1e-12)
        np.testing.assert_allclose(m.dof_damping[eng._arm_dof], t["joint_damping"][row].numpy(), rtol=1e-12)
        ga = eng._gripper_act
        np.testing.assert_allclose(m.actuator_gainprm[ga, 0], float(t["gripper_kp"][row]), rtol=1e-12)
        np.testing.assert_allclose(-m.actuator_biasprm[ga, 2], float(t["gripper_kv"][row]), rtol=1e-12)
    # The dynamic friction column passes through unchanged (PhysX's material gets it).
    for group, name in FRICTION_GROUPS:
        torch.testing.assert_close(t["friction"][group], getattr(sub, name), rtol=0, atol=0)


def test_dynamics_targets_float32_on_the_nominal_draw_is_the_nominal_model():
    eng = MujocoEngine(get_task("peg_insertion"), NUM_ENVS)
    nominal = _nominal_from(eng.model, eng._ids, eng._gripper_act)
    nominal32 = {k: (v.float() if isinstance(v, torch.Tensor) else v) for k, v in nominal.items()}
    params = sample_startup(RandomizationCfg(enabled=False), eng.nominal, NUM_ENVS, torch.Generator())
    t = dynamics_targets(params, nominal32, torch.arange(NUM_ENVS))
    assert t["robot_mass"].dtype == torch.float32
    torch.testing.assert_close(t["robot_mass"], nominal32["robot_mass"])
    torch.testing.assert_close(t["target_inertia"], nominal32["target_inertia"], rtol=1e-6, atol=0)
    torch.testing.assert_close(t["gripper_kp"], torch.full((NUM_ENVS,), nominal["gripper_kp"]))


def test_shape_columns_follow_the_per_link_layout():
    # Links with 2, 1, 3, 0, 2 shapes: link 2's shapes are columns 3..5, link 0's 0..1, link 4's 6..7.
    assert shape_columns([2, 1, 3, 0, 2], [2, 0, 4]) == [3, 4, 5, 0, 1, 6, 7]
    assert shape_columns([2, 1, 3, 0, 2], [3]) == []
    with pytest.raises(ValueError, match="outside"):
        shape_columns([2, 1], [2])


def test_write_friction_sets_static_and_dynamic_and_keeps_restitution():
    mats = torch.zeros(4, 5, 3)
    mats[..., 0] = 0.5
    mats[..., 1] = 0.5
    mats[..., 2] = torch.tensor([0.1, -100.0, 0.0, 0.2, 0.3])  # negative: PhysX compliant stiffness
    before = mats.clone()
    fr = torch.tensor([[1.1, 0.9], [0.4, 0.6]], dtype=torch.float64)  # second: dynamic > static
    write_friction(mats, torch.tensor([3, 1], dtype=torch.int32), [0, 2, 4], fr)
    torch.testing.assert_close(mats[3, [0, 2, 4], 0], torch.full((3,), 1.1))
    torch.testing.assert_close(mats[3, [0, 2, 4], 1], torch.full((3,), 0.9))
    torch.testing.assert_close(mats[1, [0, 2, 4], 1], torch.full((3,), 0.4))  # clamped to static
    torch.testing.assert_close(mats[..., 2], before[..., 2])  # restitution untouched
    untouched = torch.ones(4, 5, dtype=torch.bool)
    untouched[3, [0, 2, 4]] = False
    untouched[1, [0, 2, 4]] = False
    torch.testing.assert_close(mats[untouched], before[untouched])
    with pytest.raises(ValueError, match=r"\[2, 2\]"):
        write_friction(mats, torch.tensor([0, 1]), [0], torch.ones(2, 3))


# ---- the API names (Isaac Lab installed) ----------------------------------------------------------
def _site(pkg: str) -> Path | None:
    spec = importlib.util.find_spec(pkg)
    return None if spec is None or spec.origin is None else Path(spec.origin).parent


PHYSX = _site("isaaclab_physx") if importlib.util.find_spec("isaaclab") is not None else None
needs_isaaclab = pytest.mark.skipif(
    PHYSX is None, reason="Isaac Lab (isaaclab, isaaclab_physx) is not installed in this Python: make isaaclab-setup, "
    "then .venv-isaaclab/bin/python -m pytest src/omnireset_sim/test/test_isaaclab_physx_glue.py")


def _class_members(path: Path, name: str) -> tuple[dict[str, ast.FunctionDef | None], list[str]]:
    """Methods/properties (-> their def) and class or instance attributes (-> None; `self.x = ...`
    in its methods, e.g. _physics_sim_view set at initialization) of class `name` in a source file,
    and its base class names."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == name:
            out: dict = {}
            for sub in ast.walk(node):
                targets = (sub.targets if isinstance(sub, ast.Assign)
                           else [sub.target] if isinstance(sub, ast.AnnAssign) else [])
                for t in targets:
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                        out.setdefault(t.attr, None)
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    out[item.name] = item
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    out[item.target.id] = None
            return out, [ast.unparse(b) for b in node.bases]
    raise AssertionError(f"class {name} not in {path}")


def _members(kind: str) -> dict:
    """name -> def (or None when only the name is known) of an Isaac Lab 3.0 PhysX asset class with its
    Isaac Lab bases (those import without Kit: their own members come from `inspect`)."""
    import isaaclab.assets as la
    from isaaclab.assets.articulation.base_articulation_data import BaseArticulationData
    from isaaclab.assets.rigid_object.base_rigid_object_data import BaseRigidObjectData

    files = {
        "Articulation": (PHYSX / "assets/articulation/articulation.py", "BaseArticulation", la.BaseArticulation),
        "RigidObject": (PHYSX / "assets/rigid_object/rigid_object.py", "BaseRigidObject", la.BaseRigidObject),
        "ArticulationData": (PHYSX / "assets/articulation/articulation_data.py", "BaseArticulationData",
                             BaseArticulationData),
        "RigidObjectData": (PHYSX / "assets/rigid_object/rigid_object_data.py", "BaseRigidObjectData",
                            BaseRigidObjectData),
    }
    path, base_name, base = files[kind]
    own, bases = _class_members(path, kind)
    assert base_name in bases, f"isaaclab_physx {kind} no longer derives from {base_name}: {bases}"
    merged = {n: None for n in dir(base)}
    for n in dir(base):
        fn = inspect.getattr_static(base, n, None)
        merged[n] = fn
    merged.update(own)
    return merged


def _view_names_isaaclab_physx_uses() -> set[str]:
    """Attribute names Isaac Lab 3.0's PhysX backend itself uses on PhysX tensor views (any receiver
    named *view* or *_physics_sim_view), from its sources."""
    names: set[str] = set()
    for f in PHYSX.rglob("*.py"):
        if "/test/" in str(f):
            continue  # the mocks define names; only real use counts
        try:
            tree = ast.parse(f.read_text())
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and "view" in ast.unparse(node.value).split(".")[-1].lower():
                names.add(node.attr)
    return names


# Receivers in the PhysX glue -> the Isaac Lab classes their attributes must exist on.
RECEIVERS = {
    "self.robot": ("Articulation",), "engine.robot": ("Articulation",),
    "self.target": ("RigidObject",), "engine.target": ("RigidObject",),
    "self.receptive": ("RigidObject",), "self.table": ("RigidObject",),
    "asset": ("Articulation", "RigidObject"),  # loops over the four assets
    "self.robot.data": ("ArticulationData",), "self.target.data": ("RigidObjectData",),
}


def _glue_uses() -> list[tuple[str, str, list[str], bool]]:
    """(receiver, attribute, keyword arguments, is_view) for every attribute the PhysX glue uses on
    an Isaac Lab asset, its data, or a PhysX view."""
    sources = [
        (il_engine, ("_set_dynamics_physx", "_physx_dynamics_binding", "_robot_body_ids", "_nominal_inertials")),
        (il_physx, ("dynamics_readback",)),
    ]
    uses = []
    for module, funcs in sources:
        tree = ast.parse(Path(module.__file__).read_text())
        calls = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                calls[id(node.func)] = [k.arg for k in node.keywords if k.arg]
        defs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name in funcs]
        assert {d.name for d in defs} == set(funcs), f"{module.__name__}: {set(funcs) - {d.name for d in defs}} missing"
        for d in defs:
            for node in ast.walk(d):
                if not isinstance(node, ast.Attribute):
                    continue
                recv = ast.unparse(node.value)
                is_view = recv.endswith("root_view") or recv.endswith("_physics_sim_view") or recv == "view"
                if recv in RECEIVERS or is_view:
                    uses.append((recv, node.attr, calls.get(id(node), []), is_view))
    return uses


@needs_isaaclab
def test_every_isaac_lab_name_the_physx_glue_uses_exists_in_the_installed_isaac_lab():
    uses = _glue_uses()
    used = {a for _, a, _, _ in uses}
    # The collection itself found the calls (an empty or partial scan must fail, not pass).
    for expected in ("set_masses_index", "set_inertias_index", "write_joint_friction_coefficient_to_sim_index",
                     "write_joint_armature_to_sim_index", "write_joint_stiffness_to_sim_index",
                     "write_joint_damping_to_sim_index", "get_material_properties", "set_material_properties",
                     "create_rigid_body_view", "link_paths", "max_shapes", "map_body_ids_to_backend",
                     "map_joint_ids_to_backend", "get_dof_friction_properties", "body_mass", "body_inertia"):
        assert expected in used, f"{expected} not found in the PhysX glue: the scan is broken"
    members = {k: _members(k) for k in ("Articulation", "RigidObject", "ArticulationData", "RigidObjectData")}
    view_names = _view_names_isaaclab_physx_uses()
    missing = []
    for recv, attr, kwargs, is_view in uses:
        if is_view:
            if attr not in view_names:
                missing.append(f"{recv}.{attr}: not a PhysX view name Isaac Lab's PhysX backend uses")
            continue
        for cls in RECEIVERS[recv]:
            if attr not in members[cls]:
                missing.append(f"{recv}.{attr}: not on isaaclab_physx {cls}")
                continue
            fn = members[cls][attr]
            if kwargs and fn is not None:
                if isinstance(fn, ast.FunctionDef):
                    params = {a.arg for a in fn.args.args + fn.args.kwonlyargs}
                elif callable(fn):
                    params = set(inspect.signature(fn).parameters)
                else:
                    continue  # a property or attribute: not called with keywords
                bad = [k for k in kwargs if k not in params]
                if bad:
                    missing.append(f"{recv}.{attr}({', '.join(bad)}=...): no such keyword on {cls}.{attr}")
    assert not missing, "\n".join(missing)


@needs_isaaclab
def test_the_glue_follows_isaac_labs_own_physx_material_event():
    """The material writes follow isaaclab_physx's randomize_rigid_body_material (the event Isaac
    Lab 3.0 runs on PhysX): same view calls, same per-link shape-count query."""
    src = (PHYSX / "envs/mdp/events.py").read_text()
    for name in ("root_view.get_material_properties()", "root_view.set_material_properties(",
                 "create_rigid_body_view(link_path)", "root_view.link_paths[0]", ".max_shapes",
                 "map_body_ids_to_backend("):
        assert name in src, f"Isaac Lab's PhysX material event no longer uses {name}"


def test_physx_nominal_drive_gains_are_the_mujoco_servo_gains():
    """PhysX's nominal gripper kp/kv (physx.gripper_drive_gains, what the scales multiply there) are the
    MJCF servo's (what they multiply on MuJoCo and Newton): the same draw means the same gains."""
    from omnireset_sim.assets.scene import SceneConfig
    from omnireset_sim.isaaclab.physx import gripper_drive_gains

    eng = MujocoEngine(get_task("peg_insertion"), 1)
    gains = gripper_drive_gains(SceneConfig())
    ga = eng._gripper_act
    assert gains["stiffness"] == pytest.approx(float(eng.model.actuator_gainprm[ga, 0]), rel=1e-12)
    assert gains["damping"] == pytest.approx(float(-eng.model.actuator_biasprm[ga, 2]), rel=1e-12)
