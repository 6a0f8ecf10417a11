"""The enforcing-SELinux VM test bed: a cached Debian 12 image booted under qemu.

image.py builds (once) and caches the base image; runner.py boots a throw-away overlay, runs
one scenario script from tests/scenarios/ at boot and brings its results back.
"""
