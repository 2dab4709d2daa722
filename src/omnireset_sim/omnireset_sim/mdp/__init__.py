"""MDP terms written once, in torch, on engine-neutral tensors (see envs/engine.py)."""
