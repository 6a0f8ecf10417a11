"""Jinja2 templates for generated SELinux policy modules (.te/.fc); see templates_dir()."""

import os


def templates_dir():
    # type: () -> str
    """The directory holding the *.j2 templates, wherever the package is installed."""
    return os.path.dirname(os.path.abspath(__file__))
