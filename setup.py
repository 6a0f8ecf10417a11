"""Package list for setuptools: src/ packages plus the mapped policy_templates/ data package,
and the optional native walker of the raw-log scanner (avc/_fastscan.c), built where a C compiler
and the Python headers are present; without it the pure-Python scanner is used (same results,
slower). POSTMULTI_SELINUX_PURE=1 leaves it out: a py3-none-any wheel for any host and Python.

Kept as setup.py (metadata in setup.cfg) so Python 3.6's setuptools on EL7/EL8 can install it.
"""
import os

from setuptools import Extension, find_packages, setup

NATIVE = [] if os.environ.get("POSTMULTI_SELINUX_PURE") == "1" else [
    Extension("postmulti_selinux.avc._fastscan", ["src/postmulti_selinux/avc/_fastscan.c"], optional=True)]

setup(packages=find_packages("src") + ["postmulti_selinux.policy_templates"], ext_modules=NATIVE)
