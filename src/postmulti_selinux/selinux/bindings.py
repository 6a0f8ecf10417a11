"""The distribution's SELinux Python bindings, imported here and nowhere else.

They come from the distribution, never from PyPI: the PyPI ``selinux`` shim only ever loads
``selinux`` (and on Debian/Ubuntu stays a stub reporting SELinux disabled), nothing shims
``semanage`` or ``setools``, and PyPI's "setools" is an unrelated package. Each is imported when
first needed, so ``--help`` works without any; a command that needs a missing one stops with one
line naming this family's package. EL7 has no Python 3 ``semanage`` or ``setools``: callers fall
back to the semanage/semodule commands and libselinux's ``audit2why`` there (``optional``).
"""

import importlib
import typing

from postmulti_selinux.errors import ToolError

EX_UNAVAILABLE = 69  # sysexits.h: a service (here, a library) this command needs is missing

# binding -> family -> package that ships it (None: the family has none for Python 3)
PACKAGES = {
    "selinux": {"debian": "python3-selinux", "el7": "libselinux-python3 (EL 7.8 and later)",
                "el": "python3-libselinux"},
    "semanage": {"debian": "python3-semanage", "el7": None, "el": "python3-libsemanage"},
    "setools": {"debian": "python3-setools", "el7": None, "el": "python3-setools"},
}


def host_family(os_release="/etc/os-release"):
    # type: (str) -> str
    """``debian`` (Debian, Ubuntu), ``el7``, ``el`` (RHEL 8+, Fedora and rebuilds) or ``other``."""
    fields = {}
    try:
        with open(os_release, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.strip().partition("=")
                fields[key] = value.strip().strip("'\"")
    except (IOError, OSError):
        return "other"
    ids = [fields.get("ID", "")] + fields.get("ID_LIKE", "").split()
    if any(i in ("debian", "ubuntu") for i in ids):
        return "debian"
    if any(i in ("rhel", "fedora", "centos") for i in ids):
        return "el7" if fields.get("VERSION_ID", "").split(".")[0] == "7" else "el"
    return "other"


def install_hint(binding, family=None):
    # type: (str, typing.Optional[str]) -> str
    family = family or host_family()
    packages = PACKAGES[binding]
    if family in packages and packages[family]:
        return "install {} and run from the system python (or a venv made with " \
               "--system-site-packages)".format(packages[family])
    return "install the distribution's Python 3 {} binding ({})".format(
        binding, ", ".join("{}: {}".format(f, p) for f, p in sorted(packages.items()) if p))


def _import(name):
    # type: (str) -> typing.Any
    """``import name`` (a ``sys.modules`` entry of None, as tests use, hides it)."""
    return importlib.import_module(name)


def libselinux():
    # type: () -> typing.Any
    """The libselinux binding (``import selinux``); one ToolError line when it is missing or
    is only the PyPI shim's stub."""
    try:
        module = _import("selinux")
    except ImportError:
        module = None
    if module is None or not hasattr(module, "selabel_open"):
        raise ToolError("the libselinux Python binding is not importable here{}".format(
            " (only the PyPI 'selinux' shim's stub)" if module is not None else ""),
            hint=install_hint("selinux"), exit_code=EX_UNAVAILABLE)
    return module


def optional(name):
    # type: (str) -> typing.Any
    """The ``semanage`` or ``setools`` binding, or None where there is none (callers fall
    back to the command-line tools)."""
    try:
        return _import(name)
    except ImportError:
        return None


def setools_available():
    # type: () -> bool
    """Whether the setools library answers here: it imports, and it is SELinuxProject's (PyPI's
    "setools" is an unrelated package; EL7 has no Python 3 setools at all)."""
    return hasattr(optional("setools"), "SELinuxPolicy")


def available(name):
    # type: (str) -> bool
    """Whether ``import name`` would find a module, without importing it (setools is slow)."""
    import importlib.util
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: hidden by a sys.modules entry of None
        return False


def audit2why():
    # type: () -> typing.Any
    """libselinux's ``selinux.audit2why`` (policy verdicts from a policy file), or None."""
    try:
        return _import("selinux.audit2why")
    except ImportError:
        return None


def kernel_mode():
    # type: () -> typing.Tuple[bool, bool]
    """(enabled, enforcing) as the running kernel says."""
    selinux = libselinux()
    enabled = selinux.is_selinux_enabled() == 1
    return enabled, enabled and selinux.security_getenforce() == 1
