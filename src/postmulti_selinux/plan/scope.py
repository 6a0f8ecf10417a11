"""Where a run works: the live host (root ``/``), or an offline root and only what lies under it.

Offline mode (``--root R``) never touches the live host: the Postfix configuration and the
journal default to R's own paths, a path given outside R is refused, and nothing is started,
stopped or probed (see ``Scope.offline``).
"""

import os
import typing

from postmulti_selinux.errors import ToolError

Scope = typing.NamedTuple("Scope", [
    ("root", str), ("config_dir", str), ("state_dir", str), ("offline", bool)])
DEFAULT_CONFIG_DIR = "/etc/postfix"
DEFAULT_STATE_DIR = "/var/lib/postmulti-selinux"
STATE_ENV = "POSTMULTI_SELINUX_STATE_DIR"


def under(root, path):
    # type: (str, str) -> bool
    """Whether ``path`` is ``root`` or lies below it (both absolute, normalised)."""
    return root == "/" or path == root or path.startswith(root.rstrip("/") + "/")


def _inside(root, path, option):
    # type: (str, str, str) -> str
    if not path:
        raise ToolError("{} is empty".format(option), hint="give a directory, or leave the "
                        "option out for the default")
    path = os.path.normpath(os.path.abspath(path))
    if not under(root, path):
        raise ToolError("{} {} is outside --root {}: offline mode works only under the "
                        "root".format(option, path, root),
                        hint="give a path under {} (or leave {} out)".format(root, option))
    return path


def resolve_scope(root="/", config_dir=None, state_dir=None):
    # type: (str, typing.Optional[str], typing.Optional[str]) -> Scope
    """The checked paths of one run; a path that escapes the root is one clear error."""
    if not root:
        raise ToolError("--root is empty", hint="give a directory, or / for the live host")
    root = os.path.normpath(os.path.abspath(root))
    if not os.path.isdir(root):
        raise ToolError("--root {} is not a directory".format(root))
    offline = root != "/"
    prefix = "" if not offline else root
    if config_dir is None:
        config_dir = prefix + DEFAULT_CONFIG_DIR
    if state_dir is None:
        state_dir = os.environ.get(STATE_ENV) or prefix + DEFAULT_STATE_DIR
        option = STATE_ENV if os.environ.get(STATE_ENV) else "--state-dir"
    else:
        option = "--state-dir"
    return Scope(root, _inside(root, config_dir, "--config-dir"),
                 _inside(root, state_dir, option), offline)
