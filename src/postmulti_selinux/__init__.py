"""postmulti-selinux: Postfix multi-instance children on hosts that keep SELinux enforcing."""

__version__ = "0.1.0"
