from glob import glob

from setuptools import find_packages, setup

PACKAGE = "omnireset_sim"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    # The native control-step kernel is compiled from this source at first use (envs/native_stepper.py).
    package_data={PACKAGE: ["envs/native/*.cpp"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="OmniReset developers",
    maintainer_email="omnireset@example.com",
    description="MuJoCo task suite, batched RL environment, rendering and task viewer of OmniReset.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "view = omnireset_sim.view:main",
            "list_tasks = omnireset_sim.list_tasks:main",
            "grasps = omnireset_sim.resets.grasps_cli:main",
            "partial_assemblies = omnireset_sim.resets.partial_assemblies_cli:main",
            "resets = omnireset_sim.resets.resets_cli:main",
            "train = omnireset_sim.rl.train:main",
            "evaluate = omnireset_sim.rl.evaluate:main",
            "export = omnireset_sim.rl.export:main",
            "sim_node = omnireset_sim.sim_node:main",
            "sysid = omnireset_sim.sysid.cli:main",
            "four_leg_table = omnireset_sim.four_leg_table:main",
            "oracle = omnireset_sim.oracle:main",
        ],
    },
)
