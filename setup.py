"""Package list for setuptools: src/ packages plus the mapped policy_templates/ data package.

Kept as setup.py (metadata in setup.cfg) so Python 3.6's setuptools on EL7/EL8 can install it.
"""
from setuptools import find_packages, setup

setup(packages=find_packages("src") + ["postmulti_selinux.policy_templates"])
