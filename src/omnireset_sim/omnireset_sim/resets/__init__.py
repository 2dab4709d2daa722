"""OmniReset reset generation (§3.2): grasps, partial assemblies, the four reset datasets, and the
dataset reset sampler the environment draws from.

    from omnireset_sim.resets import DatasetResetSampler, load_reset_dataset
    env = OmniResetEnv(cfg, reset_sampler=DatasetResetSampler("easy.npz", task="peg_insertion", scene=cfg.scene))
"""

import os

# MuJoCo picks its GL backend when first imported; the gallery renders headless unless the user chose.
os.environ.setdefault("MUJOCO_GL", "egl")

from .artifacts import ArtifactError  # noqa: E402
from .dataset import DatasetResetSampler, DatasetResetState, ResetDataset, load_reset_dataset  # noqa: E402
from .grasps import NoValidGraspError  # noqa: E402
from .states import RESET_TYPES  # noqa: E402

__all__ = ["RESET_TYPES", "ArtifactError", "DatasetResetSampler", "DatasetResetState", "NoValidGraspError",
           "ResetDataset", "load_reset_dataset"]
