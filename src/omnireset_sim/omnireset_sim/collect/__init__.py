"""Expert data collection for the RGB student (paper A.3.7, A.3.11): roll out an exported state
expert from the reset datasets, render the three cameras with visual randomization, and write
HDF5 shards (format: omnireset_policy.student.shard_format).

    python -m omnireset_sim.collect --expert src/omnireset_bringup/policies/demo \
        --reset-dataset data/resets/peg_insertion/easy.npz --episodes 100 --out data/expert/peg_easy
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
