"""OmniReset simulation: procedural MuJoCo assets, task specs, the batched RL environment.

Layout (Isaac Lab manager-based spirit, kept small):
  assets/  MJCF generation (arm from omnireset_control kinematics, gripper, table, objects, cameras)
  tasks/   declarative task specs (target/receptive objects, goal sampler, thresholds, variants)
  envs/    engine interface, the MuJoCo engine, reset samplers, the vectorized env
  mdp/     rewards, observations, terminations, events, actions, written once in torch on
           engine-neutral state tensors
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
