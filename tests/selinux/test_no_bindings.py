"""EL7's situation: no ``import semanage``, no ``import setools``; libselinux (audit2why) only.

In-process, the bindings are hidden with ``sys.modules[name] = None`` (import raises
ImportError); subprocesses get a PYTHONPATH directory whose ``semanage.py``/``setools.py`` raise
ImportError. The semanage/semodule tools themselves (``python3 -Es``) still see the real ones,
as EL7's python2 semanage does. Every policy is a copy: the host's store is never written.
"""

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time

import pytest

from postmulti_selinux.selinux import PolicyRoot, PolicyTransaction, PortCheck, UndoRecord
from postmulti_selinux.selinux.store_cli import read_local_ports
from postmulti_selinux.selinux.transaction import installed_module
from tests.selinux.conftest import REPO, _copy_store, build_module

SHARED = os.path.join(os.path.dirname(REPO), "shared", "policies")
ORACLES = {  # port 2525 (unreserved_port_t) bindable by postfix_master_t, per family
    "el7": ("targeted", False), "el9": ("targeted", True), "debian": ("default", False)}
HIDDEN = ("semanage", "setools")


@pytest.fixture(scope="module")
def all_roots(tmp_path_factory):
    """{family: pristine root}: the EL7-era and EL9 tarballs, Debian's own store (copied)."""
    roots = {}
    for name in ("el7", "el9"):
        tarball = os.path.join(SHARED, "{}-targeted.tar.xz".format(name))
        if os.path.exists(tarball):
            target = str(tmp_path_factory.mktemp(name + "-policy"))
            with tarfile.open(tarball) as archive:
                archive.extractall(target)
            roots[name] = target
    if os.path.isdir("/etc/selinux/default") and os.path.isdir("/var/lib/selinux/default"):
        target = str(tmp_path_factory.mktemp("debian-policy"))
        _copy_store(target, "/", "default")
        roots["debian"] = target
    return roots


@pytest.fixture(params=sorted(ORACLES))
def any_family(request, all_roots):
    if request.param not in all_roots:
        pytest.skip("the {} policy is not available here".format(request.param))
    policy_type, bindable = ORACLES[request.param]
    return {"name": request.param, "pristine": all_roots[request.param], "type": policy_type,
            "port_2525_bindable": bindable}


@pytest.fixture
def no_bindings(monkeypatch):
    """``import semanage`` and ``import setools`` raise ImportError, as on EL7's python3."""
    for name in HIDDEN:
        monkeypatch.setitem(sys.modules, name, None)
    for name in HIDDEN:
        with pytest.raises(ImportError):
            __import__(name)


@pytest.fixture
def hiding_pythonpath(tmp_path):
    """A PYTHONPATH directory that hides the bindings from a subprocess."""
    directory = tmp_path / "hide-bindings"
    directory.mkdir()
    for name in HIDDEN:
        (directory / (name + ".py")).write_text(
            "raise ImportError('{} hidden by the test (EL7 has no such binding)')\n".format(name))
    return str(directory)


def _writable(family, tmp_path):
    target = str(tmp_path / "root")
    _copy_store(target, family["pristine"], family["type"])
    return PolicyRoot(target, family["type"])


def _semanage_local_ports(root):
    """``semanage port -l -C`` of an offline root: the real CLI in a private mount namespace
    where the root's /etc/selinux and /var/lib/selinux are bound over the host's (which the
    namespace leaves untouched). None where that cannot run (not root, no unshare)."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("semanage"):
        return None
    binds = ["mount --bind {} /etc/selinux".format(root.path("/etc/selinux"))]
    if os.path.isdir(root.path("/var/lib/selinux")):
        binds.append("mount --bind {} /var/lib/selinux".format(root.path("/var/lib/selinux")))
    script = " && ".join(binds + ["semanage port -l -C -S {}".format(root.policy_type)])
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_port_decisions_agree_with_setools(any_family, monkeypatch):
    root = PolicyRoot(any_family["pristine"], any_family["type"])
    ports = [(2525, "tcp"), (10025, "tcp"), (25, "tcp"), (8080, "tcp")]
    expected = PortCheck(root, backend="setools").check(ports)
    for name in HIDDEN:
        monkeypatch.setitem(sys.modules, name, None)
    started = time.monotonic()
    check = PortCheck(root)
    found = check.check(ports)
    elapsed = time.monotonic() - started
    assert check.backend_name == "audit2why" and "audit2why" in check.backend_description
    assert found == expected
    decisions = {d.port: d for d in found}
    assert decisions[2525].bindable is any_family["port_2525_bindable"]
    assert decisions[10025].bindable and decisions[10025].port_type == "amavisd_send_port_t"
    assert elapsed < 10, elapsed


def test_transaction_commits_through_the_cli_and_reverts(any_family, tmp_path, no_bindings):
    root = _writable(any_family, tmp_path)
    listed_before = _semanage_local_ports(root)
    records_before = read_local_ports(root)
    subs_before = open(root.subs_path, "rb").read() if os.path.exists(root.subs_path) else None
    start = root.commit_number()
    transaction = PolicyTransaction(root)
    assert transaction.backend_name.startswith("one semodule")
    transaction.add_equivalence("/var/spool/postfix", "/var/spool/postfix-sub")
    transaction.add_port(2525, "tcp", "smtp_port_t")
    report = transaction.commit()
    assert (report.store_commits, report.subs_writes, report.rebuilds) == (1, 1, 1)
    assert root.commit_number() == start + 1
    assert PortCheck(root).check([(2525, "tcp")])[0].port_type == "smtp_port_t"
    if listed_before is not None:
        assert "2525" in _semanage_local_ports(root)

    undo = PolicyTransaction.revert(UndoRecord.from_dict(transaction.undo_record.as_dict()))
    assert (undo.store_commits, undo.rebuilds) == (1, 1)
    assert read_local_ports(root) == records_before
    if listed_before is not None:
        assert _semanage_local_ports(root) == listed_before
    after = open(root.subs_path, "rb").read() if os.path.exists(root.subs_path) else None
    assert after == subs_before
    assert PortCheck(root).check([(2525, "tcp")])[0].port_type == "unreserved_port_t"


def test_el7_store_layout_is_found_and_used(all_roots, tmp_path, no_bindings):
    """libsemanage 2.5 keeps the store in /etc/selinux/targeted/active (no /var/lib/selinux)."""
    if "el7" not in all_roots:
        pytest.skip("the EL7-era policy tarball is not available here")
    target = str(tmp_path / "el7root")
    shutil.copytree(os.path.join(all_roots["el7"], "etc"), os.path.join(target, "etc"),
                    symlinks=True)
    store = os.path.join(all_roots["el7"], "var", "lib", "selinux", "targeted")
    for entry in os.listdir(store):
        source = os.path.join(store, entry)
        destination = os.path.join(target, "etc", "selinux", "targeted", entry)
        if os.path.isdir(source):
            shutil.copytree(source, destination, symlinks=True)
        else:
            shutil.copy2(source, destination)
    with open(os.path.join(target, "etc", "selinux", "semanage.conf"), "w") as handle:
        handle.write("module-store = direct\nexpand-check = 0\npolicy-version = 31\n")
    root = PolicyRoot(target, "targeted")
    assert root.store_dir == os.path.join(target, "etc", "selinux", "targeted")
    assert root.store_root == "/etc/selinux"
    start = root.commit_number()
    assert start >= 1
    assert PortCheck(root).check([(2525, "tcp")])[0].bindable is False

    transaction = PolicyTransaction(root)
    transaction.add_port(2525, "tcp", "smtp_port_t")
    transaction.install_module(build_module(str(tmp_path), "pmtest_el7"))
    report = transaction.commit()
    assert (report.store_commits, report.rebuilds) == (1, 1)
    assert root.commit_number() == start + 1
    assert installed_module(root, "pmtest_el7") is not None
    assert os.path.isfile(os.path.join(root.store_dir, "active", "ports.local"))
    assert os.listdir(os.path.join(target, "etc", "selinux", "targeted", "policy")) == ["policy.31"]
    assert not os.path.exists(os.path.join(target, "var", "lib", "selinux"))
    decision = PortCheck(root).check([(2525, "tcp")])[0]
    assert (decision.port_type, decision.bindable) == ("smtp_port_t", True)
    assert PolicyTransaction.revert(transaction.undo_record).rebuilds == 1
    assert read_local_ports(root) == [] and installed_module(root, "pmtest_el7") is None


LIVE_SCRIPT = """
import json, sys
from postmulti_selinux.selinux import PolicyRoot, PolicyTransaction
root = PolicyRoot("/", sys.argv[1])
transaction = PolicyTransaction(root)
transaction.add_port(2525, "tcp", "smtp_port_t")
transaction.install_module(sys.argv[2])
report = transaction.commit()
undo = PolicyTransaction.revert(transaction.undo_record)
print(json.dumps([transaction.backend_name, report.rebuilds, undo.rebuilds]))
"""


def test_live_root_commits_with_one_semanage_import(any_family, tmp_path, hiding_pythonpath):
    """The live path (root /): one ``semanage import`` for a port and a module, then revert.

    Run in a private mount namespace with a copy of the store bound over the host's paths."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare for a private mount namespace")
    root = _writable(any_family, tmp_path)
    shutil.copy2("/etc/selinux/semanage.conf", root.path("/etc/selinux/semanage.conf"))
    listed_before = _semanage_local_ports(root)
    module = build_module(str(tmp_path), "pmtest_live")
    script = tmp_path / "live.py"
    script.write_text(LIVE_SCRIPT)
    shell = ("mount --bind {} /etc/selinux && mount --bind {} /var/lib/selinux && "
             "PYTHONPATH={}:{} {} {} {} {}".format(
                 root.path("/etc/selinux"), root.path("/var/lib/selinux"), hiding_pythonpath,
                 os.path.join(REPO, "src"), sys.executable, script, root.policy_type, module))
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", shell],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    assert proc.returncode == 0, proc.stderr
    backend, rebuilds, undo_rebuilds = json.loads(proc.stdout.splitlines()[-1])
    assert backend.startswith("one semanage import") and (rebuilds, undo_rebuilds) == (1, 1)
    assert _semanage_local_ports(root) == listed_before
    assert installed_module(root, "pmtest_live") is None


def test_cli_port_answers_in_a_subprocess_without_bindings(any_family, hiding_pythonpath):
    """The whole CLI (``labels``) in a process where the bindings cannot be imported."""
    env = dict(os.environ, PYTHONPATH=hiding_pythonpath)
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "postmulti-selinux"), "labels",
         "--root", any_family["pristine"], "--policy-type", any_family["type"],
         "--port", "2525", "--port", "10025", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert '"backend": "audit2why"' in proc.stdout, (proc.stdout, proc.stderr)


@pytest.fixture(scope="module", params=["no selinux module", "PyPI selinux shim"])
def plain_venv(request, tmp_path_factory):
    """A venv without the distribution's bindings (no --system-site-packages), as a plain
    ``pip install`` makes: with no ``selinux`` module at all, or with the PyPI shim, which on
    Debian stays a stub."""
    venv = str(tmp_path_factory.mktemp("plain") / "venv")
    subprocess.check_call(["/usr/bin/python3", "-m", "venv", venv])
    pip = [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q",
           "--disable-pip-version-check"]
    subprocess.check_call(pip + ["--no-deps", "-e", REPO], stdout=subprocess.DEVNULL)
    extra = ["selinux"] if request.param == "PyPI selinux shim" else []
    subprocess.check_call(pip + ["click", "jinja2"] + extra, stdout=subprocess.DEVNULL)
    probe = subprocess.run([os.path.join(venv, "bin", "python"), "-c",
                            "import selinux; selinux.selabel_open"], stderr=subprocess.DEVNULL)
    assert probe.returncode != 0  # really no libselinux binding in there
    return os.path.join(venv, "bin")


def _run_in(bin_dir, *argv):
    return subprocess.run([os.path.join(bin_dir, argv[0])] + list(argv[1:]),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)


@pytest.mark.plainvenv
def test_plain_venv_runs_every_help(plain_venv):
    """--help of both commands and of every subcommand works without any binding."""
    from postmulti_selinux.cli.main import main
    for argv in [("postmulti-selinux",), ("secure-child",)] + [
            ("postmulti-selinux", name) for name in sorted(main.commands)]:
        proc = _run_in(plain_venv, *(argv + ("--help",)))
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, (argv, proc.stderr)
        assert "Usage:" in proc.stdout, argv


@pytest.mark.plainvenv
def test_plain_venv_names_the_package_to_install(plain_venv, all_roots):
    """A command that needs libselinux says in one line which package gives it, exits 69
    (EX_UNAVAILABLE), and with --json prints one JSON object (on an offline EL9 host: the
    binding, not the family, is what is missing)."""
    from tests.plan.conftest import offline_tree
    if "el9" not in all_roots:
        pytest.skip("the EL9 policy is not available here")
    log = os.path.join(REPO, "tests", "fixtures", "vm", "scenario0_audit.log")
    tree = offline_tree(all_roots["el9"], "targeted")
    try:
        _refusals(plain_venv, log, tree.root)
    finally:
        tree.remove()


def _refusals(plain_venv, log, root):
    for argv in (("postmulti-selinux", "avc", "--input", log),
                 ("postmulti-selinux", "plan", "postfix-sub", "--root", root),
                 ("secure-child", "postfix-sub", "--root", root)):
        proc = _run_in(plain_venv, *argv)
        assert proc.returncode == 69, (argv, proc.returncode, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "python3-selinux" in lines[0], (argv, proc.stderr)
        assert "Traceback" not in proc.stderr
        proc = _run_in(plain_venv, *(argv + ("--json",)))
        assert proc.returncode == 69, argv
        report = json.loads(proc.stdout)
        assert report["ok"] is False and "python3-selinux" in report["error"], argv
