from glob import glob

from setuptools import find_packages, setup

PACKAGE = "omnireset_bringup"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.perspective")),
        (f"share/{PACKAGE}/policies/demo", glob("policies/demo/*")),
        (f"share/{PACKAGE}/policies/peg_easy_ppo", glob("policies/peg_easy_ppo/*")),
    ] + [(f"share/{PACKAGE}/{d}", glob(f"{d}/*")) for d in sorted(glob("policies/oracle_*"))],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="OmniReset developers",
    maintainer_email="omnireset@example.com",
    description="Launch files, parameters and the plain-Python graph runner.",
    license="Apache-2.0",
    entry_points={"console_scripts": []},
)
