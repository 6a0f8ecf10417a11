"""Shared pytest fixtures: the enforcing-VM scenario runner and the figures it prints."""

import os
import shutil
import tempfile

import pytest

# VM figures travel through a file: under pytest-xdist the scenarios run in worker processes,
# and only the controller prints the terminal summary. Set at import, before workers start.
os.environ.setdefault("PMS_VM_FIGURES", os.path.join(tempfile.mkdtemp(prefix="pms-figures-"),
                                                     "figures.txt"))

@pytest.fixture(scope="session", autouse=True)
def _private_cache_dir(tmp_path_factory):
    """The tool's caches (policy rule index) go to a temp directory, never the host's."""
    os.environ["POSTMULTI_SELINUX_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


_VM_RESULTS = {}  # scenario name -> ScenarioResult, one boot per scenario per session
_VM_FIGURES = []  # lines for the terminal summary (this process's; see _figure)


def _figure(line):
    # type: (str) -> None
    _VM_FIGURES.append(line)
    with open(os.environ["PMS_VM_FIGURES"], "a") as handle:
        handle.write(line + "\n")


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
    if reason and os.environ.get("CI") == "true":
        pytest.fail("CI=true and the VM test bed cannot run: " + reason)
    if reason:
        pytest.skip(reason)
    from tests.vm.image import base_image
    from tests.vm.runner import run_scenario

    image = base_image()
    if not _VM_FIGURES:
        info = image.build_info
        _figure("VM base image {}: {} (mmdebstrap {}s, setfiles -r + mke2fs -d {}s)".format(
            info.get("key"), "cached" if info.get("cached") else "built in {}s".format(
                info.get("total_seconds")), info.get("mmdebstrap_seconds"),
            info.get("label_and_pack_seconds")))

    def run(name, family="debian"):
        if (name, family) not in _VM_RESULTS:
            if family != "debian":
                info = base_image(family).build_info
                _figure("VM {} image {}: {}".format(
                    family, info.get("key"), "cached" if info.get("cached") else
                    "built in {}s from the Debian image".format(info.get("total_seconds"))))
            # A family's boot does several restarts and a reboot; two boots may share the CPUs.
            result = run_scenario(name, family=family, timeout=2400 if family == "debian" else 2700)
            _VM_RESULTS[name, family] = result
            _figure(result.summary())
        return _VM_RESULTS[name, family]

    return run


@pytest.fixture
def record_vm_figure():
    """A line for the "enforcing VM figures" summary (a VM test's own measurement)."""
    return _figure


def pytest_terminal_summary(terminalreporter):
    try:
        with open(os.environ["PMS_VM_FIGURES"]) as handle:
            lines = [l.rstrip("\n") for l in handle]
    except (IOError, OSError):
        lines = []
    if lines:
        terminalreporter.section("enforcing VM figures")
        for line in lines:
            terminalreporter.write_line(line)


# The longest boots first: under pytest-xdist (--dist loadfile: a module's tests, and so its one
# boot, stay on one worker) the two workers then run two boots side by side and the host tests
# fill the gaps, instead of the last boot running alone at the end.
_BOOT_ORDER = ("test_scenario40_el7.py", "test_scenario40_el9.py", "test_scenario30_ansible.py",
               "test_scenario10_secure_child.py", "test_scenario20_create.py",
               "test_scenario0_seed.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = os.path.basename(str(item.fspath))
        return _BOOT_ORDER.index(name) if name in _BOOT_ORDER else len(_BOOT_ORDER)
    items.sort(key=rank)  # stable: each module keeps its own order


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI=true a test that cannot run fails: a skipped layer (no ../shared policies, no
    qemu, no vagrant, no root) is a hole in what CI claims to have tested."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = "CI=true and this test cannot run here: {}".format(reason)
