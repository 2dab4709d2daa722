"""PPO training (rsl-rl), evaluation and policy export for the OmniReset environment.

CLIs: ``train``, ``evaluate``, ``export`` (also ``python -m omnireset_sim.rl.<name>``).
"""
