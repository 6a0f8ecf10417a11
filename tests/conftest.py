"""Shared pytest fixtures: the enforcing-VM scenario runner and the figures it prints."""

import os
import shutil

import pytest

@pytest.fixture(scope="session", autouse=True)
def _private_cache_dir(tmp_path_factory):
    """The tool's caches (policy rule index) go to a temp directory, never the host's."""
    os.environ["POSTMULTI_SELINUX_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


_VM_RESULTS = {}  # scenario name -> ScenarioResult, one boot per scenario per session
_VM_FIGURES = []  # lines for the terminal summary


def _vm_unavailable():
    # type: () -> str
    """Why the VM test bed cannot run here, or '' if it can."""
    if os.geteuid() != 0:
        return "the VM test bed needs root (mmdebstrap, setfiles -r)"
    for tool in ("qemu-system-x86_64", "qemu-img", "mmdebstrap", "mke2fs", "debugfs", "setfiles"):
        if not shutil.which(tool):
            return "{} is not installed (make test installs it)".format(tool)
    return ""


@pytest.fixture(scope="session")
def vm():
    """Run a named scenario of tests/scenarios/ in the enforcing VM: ``vm("00_seed_without_tool")``.

    Each scenario boots once per session; tests sharing a scenario share its result.
    """
    reason = _vm_unavailable()
    if reason:
        pytest.skip(reason)
    from tests.vm.image import base_image
    from tests.vm.runner import run_scenario

    image = base_image()
    if not _VM_FIGURES:
        info = image.build_info
        _VM_FIGURES.append("VM base image {}: {} (mmdebstrap {}s, setfiles -r + mke2fs -d {}s)".format(
            info.get("key"), "cached" if info.get("cached") else "built in {}s".format(
                info.get("total_seconds")), info.get("mmdebstrap_seconds"),
            info.get("label_and_pack_seconds")))

    def run(name):
        if name not in _VM_RESULTS:
            result = run_scenario(name)
            _VM_RESULTS[name] = result
            _VM_FIGURES.append(result.summary())
        return _VM_RESULTS[name]

    return run


def pytest_terminal_summary(terminalreporter):
    if _VM_FIGURES:
        terminalreporter.section("enforcing VM figures")
        for line in _VM_FIGURES:
            terminalreporter.write_line(line)
