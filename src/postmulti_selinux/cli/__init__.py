"""Command-line entry points: ``secure-child`` (one-shot) and ``postmulti-selinux`` (subcommands)."""
