from setuptools import find_packages, setup

PACKAGE = "omnireset_policy"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="OmniReset developers",
    maintainer_email="omnireset@example.com",
    description="Deployment-side policy: loading, observations, policy node, supervisor node.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "policy_node = omnireset_policy.policy_node:main",
            "supervisor_node = omnireset_policy.supervisor_node:main",
            "gripper_bridge_node = omnireset_policy.gripper_bridge_node:main",
        ],
    },
)
