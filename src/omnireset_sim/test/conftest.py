"""Make the package importable from the source tree and render headless."""

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT.parent / "omnireset_control", ROOT.parent / "omnireset_policy"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


@pytest.fixture
def engine_defaults():
    """Restore the process-wide engine default (vec_env.ENGINE_DEFAULTS) that a CLI run may set."""
    from omnireset_sim.envs import vec_env

    saved = dict(vec_env.ENGINE_DEFAULTS)
    yield vec_env.ENGINE_DEFAULTS
    vec_env.ENGINE_DEFAULTS.clear()
    vec_env.ENGINE_DEFAULTS.update(saved)


@pytest.fixture(scope="session")
def tiny_reset_dataset(tmp_path_factory):
    """A few validated peg states per reset type, generated here (real datasets live in data/,
    which is not in the repository)."""
    from omnireset_sim.resets.dataset import DatasetRequest, generate_dataset
    from omnireset_sim.resets.grasps import GraspConfig, generate_grasps
    from omnireset_sim.resets.partial_assemblies import PartialAssemblyConfig, generate_partial_assemblies
    from omnireset_sim.tasks import get_task

    peg = get_task("peg_insertion")
    root = tmp_path_factory.mktemp("resets")
    grasps = generate_grasps(peg, GraspConfig(num_grasps=20, max_candidates=60, chunk_candidates=30), seed=1,
                             out=root / "grasps.npz")
    pa = generate_partial_assemblies(peg, PartialAssemblyConfig(num_poses=30, max_episodes=10, episodes_per_chunk=5),
                                     seed=1, out=root / "pa.npz")
    per_type = {"reaching": 2, "near_object": 2, "stable_grasp": 2, "near_goal": 2}
    generate_dataset(DatasetRequest("peg_insertion", "easy", per_type, seed=3, chunk_size=2), grasps, pa,
                     root / "easy.npz")
    return root / "easy.npz"
