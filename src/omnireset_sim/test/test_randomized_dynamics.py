"""Randomized per-world physics must stay stable: re-massed objects need MuJoCo's derived constants
recomputed (mj_setConst), else contact impedances use the nominal mass and the object is shot out."""

from __future__ import annotations

import mujoco
import numpy as np

from omnireset_sim.envs import make_env
from omnireset_sim.mdp.events import RandomizationCfg


def _heavy_peg_env(mass_kg: float):
    # Only the target mass is randomized, pinned to one value, so the test isolates that row.
    rand = RandomizationCfg(robot_friction=False, target_friction=False, receptive_friction=False,
                            table_friction=False, robot_mass=False, target_mass=True, target_mass_kg=(mass_kg, mass_kg),
                            receptive_mass=False, table_mass=False, gripper_gains=False)
    return make_env("peg_insertion", "easy", 8, randomization=rand, nthread=1, seed=0)


def test_remassed_world_has_fresh_derived_constants():
    env = _heavy_peg_env(0.2)
    eng = env.engine
    body = int(eng._ids["target_body"][0])
    world = eng.models[0]
    assert world.body_mass[body] == np.float64(0.2)
    # Reference: a model compiled from scratch with that mass has these inverse weights.
    fresh = mujoco.MjModel.from_xml_string(eng.xml)
    fresh.body_mass[body] = world.body_mass[body]
    fresh.body_inertia[body] = world.body_inertia[body]
    mujoco.mj_setConst(fresh, mujoco.MjData(fresh))
    np.testing.assert_allclose(world.body_invweight0[body], fresh.body_invweight0[body], rtol=1e-9)
    np.testing.assert_allclose(world.dof_invweight0, fresh.dof_invweight0, rtol=1e-9)
    # And it differs from the nominal model's (the 50 g peg): the update really happened.
    assert not np.allclose(world.body_invweight0[body], eng.model.body_invweight0[body])
    env.close()
