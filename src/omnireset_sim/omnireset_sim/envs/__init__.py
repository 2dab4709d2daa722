"""Engines and the vectorized environment."""

from .engine import DynamicsParams, EngineState, ResetState, SimEngine
from .reset import ReachingResetSampler, ResetSampler
from .vec_env import EnvCfg, OmniResetEnv, make_env

__all__ = ["DynamicsParams", "EngineState", "EnvCfg", "OmniResetEnv", "ReachingResetSampler", "ResetSampler",
           "ResetState", "SimEngine", "make_env"]
