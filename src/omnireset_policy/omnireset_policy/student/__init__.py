"""The RGB student (paper A.3.11): expert-shard reading, the network, augmentation, distillation,
export (omnireset_policy.exported_policy kind "rgb") and evaluation in simulation.

``shard_format`` is the one definition of the on-disk expert dataset that
omnireset_sim.collect writes and ``dataset`` reads.
"""
