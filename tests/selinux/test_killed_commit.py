"""A run killed (SIGKILL) or interrupted (SIGINT to its process group, as Ctrl-C) during its
policy commit: no process of it outlives it, the store is unchanged or holds only what the
journal's undo record covers, and undo puts back exactly what is there, saying so.

A small driver journals and applies one CommitPolicy (a port, an equivalence, a module) the way
secure does, on a copy of each family's store; it is signalled once the journal shows the commit
begun: at random offsets, and right after the store's commit counter moves (the store holds the
change, the journal does not say "done" yet). Survivors are looked for in /proc. The last tests
interrupt the parent's wait in process, as Ctrl-C does.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid

import pytest

from postmulti_selinux.plan.undo import undo
from postmulti_selinux.selinux import PortCheck, UndoRecord, store_cli
from postmulti_selinux.selinux.store_cli import read_local_ports
from postmulti_selinux.selinux.transaction import _in_child_process, installed_module
from tests.selinux.conftest import REPO, build_module

PORT = 2526
MODULE = "pmtest_kill"
MARK = "PMS_KILL_TEST"
# The signals of one test, in order. end: SIGKILL once the store committed (this run also
# measures the commit's length); early: SIGKILL 0.05-0.5 s in (as in the report); kill: SIGKILL
# at a random offset inside the commit; int: SIGINT to the process group at a random offset.
# The command backend rewrites ports.local before its one semodule; a kill in between is settled
# by the next store of the root (test_a_kill_before_semodule_commits_leaves_no_port_record).
SCHEDULES = {"libsemanage": ["end", "early", "kill", "kill", "int"], "semodule": ["early", "int"]}

DRIVER = """
import sys
from postmulti_selinux.plan.action import Context
from postmulti_selinux.plan.actions import CommitPolicy
from postmulti_selinux.plan.execute import Report, _apply_one
from postmulti_selinux.plan.journal import Journal, Lock
from postmulti_selinux.selinux import PolicyRoot, PolicyTransaction
root, state, module = sys.argv[1:4]
policy_root = PolicyRoot(root)
transaction = PolicyTransaction(policy_root)
transaction.add_port({port}, "tcp", "smtp_port_t")
transaction.add_equivalence("/var/spool/postfix", "/var/spool/postfix-sub")
transaction.install_module(module)
with Lock(state):
    _apply_one(CommitPolicy(3), Context(None, policy_root, transaction),
               Journal(state, "postfix-sub"), Report("postfix-sub", False))
""".format(port=PORT)


def _name_if_running(pid):
    # type: (int) -> str
    """The command name of ``pid`` while it runs (until it is a zombie: its files closed)."""
    try:
        with open("/proc/{}/stat".format(pid)) as handle:
            stat = handle.read()
    except OSError:
        return ""
    return "" if stat[stat.rindex(")") + 2] in "ZX" else stat[stat.index("(") + 1:stat.rindex(")")]


def _of_run(token, root):
    # type: (str, str) -> dict
    """{pid: name} of the running processes of a run: their environment carries its mark, or
    (libsemanage's helpers, run with an empty environment) their command line names its root."""
    needle = "{}={}".format(MARK, token).encode()
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/{}/environ".format(pid), "rb") as handle:
                environ = handle.read().split(b"\0")
            with open("/proc/{}/cmdline".format(pid), "rb") as handle:
                cmdline = handle.read()
        except OSError:
            continue
        if needle not in environ and root.encode() not in cmdline:
            continue
        name = _name_if_running(int(pid))
        if name:
            found[int(pid)] = name
    return found


def _store(root):
    """What a commit of the driver can change: local ports, module list and ours, the subs."""
    modules = os.path.join(root.store_dir, "active", "modules")
    return {"ports": read_local_ports(root),
            "modules": sorted(os.path.join(p, m) for p in os.listdir(modules)
                              for m in os.listdir(os.path.join(modules, p))),
            "module": installed_module(root, MODULE),
            "subs": open(root.subs_path, "rb").read() if os.path.exists(root.subs_path) else None}


def _commit_entry(journal):
    try:
        with open(journal) as handle:
            entries = [e for run in json.load(handle)["runs"] for e in run["entries"]]
    except (IOError, OSError, ValueError):
        return None
    return next((e for e in entries if e["action"]["kind"] == "commit-policy"), None)


def _wait(what, test, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while not test() and proc.poll() is None:
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.002)


def _signal_run(root, env, state, module, how, offset, log):
    """Start the driver, signal it ``offset`` s after its commit began (``how``: kill, int) or
    as soon as the store's commit counter moves (end). Returns (seconds from the commit's
    start to the signal, marked processes alive just before it, survivors)."""
    token = uuid.uuid4().hex
    journal = os.path.join(state, "journal", "postfix-sub.json")
    with open(log, "ab") as output:
        proc = subprocess.Popen([sys.executable, "-c", DRIVER, root.root, state, module],
                                env=dict(env, **{MARK: token}), stdout=output, stderr=output,
                                start_new_session=True)
    try:
        _wait("the journalled commit", lambda: _commit_entry(journal) is not None, proc)
        assert _commit_entry(journal), "the driver failed, see {}".format(log)
        began = time.monotonic()
        if how == "end":
            number = root.commit_number()  # 0 while libsemanage swaps active/ (microseconds)
            _wait("the store commit", lambda: root.commit_number() not in (number, 0), proc)
        else:
            time.sleep(offset)
        workers = _of_run(token, root.root)
        workers.pop(proc.pid, None)
        if how == "int":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.kill()  # the driver only: its worker must die by itself
        elapsed = time.monotonic() - began
        proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def survivors():
        found = _of_run(token, root.root)
        found.update((pid, _name_if_running(pid)) for pid in workers if _name_if_running(pid))
        return found
    deadline = time.monotonic() + 2.0  # SIGKILL is sent at once; dying can take a moment
    while survivors() and time.monotonic() < deadline:
        time.sleep(0.01)
    return elapsed, workers, survivors()


@pytest.fixture
def backend(request, tmp_path):
    """(name, environment for the driver): the binding, or none as on EL7 (semodule -p)."""
    path = os.path.join(REPO, "src")
    if request.param == "semodule":
        hide = tmp_path / "hide-bindings"
        hide.mkdir()
        (hide / "semanage.py").write_text("raise ImportError('hidden, as on EL7')\n")
        path = "{}:{}".format(hide, path)
    return request.param, dict(os.environ, PYTHONPATH=path)


# The command backend does the same on every family: Debian's is enough.
@pytest.mark.parametrize("family,backend", [
    ("debian", "libsemanage"), ("el9", "libsemanage"), ("debian", "semodule")], indirect=True)
def test_killed_commit_leaves_no_worker_and_a_truthful_journal(writable_root, backend, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root (policy store copies, process scan)")
    root = writable_root
    name, env = backend
    module = build_module(str(tmp_path), MODULE)
    state = str(tmp_path / "state")
    log = str(tmp_path / "driver.log")
    before = _store(root)
    port_type = PortCheck(root).check([(PORT, "tcp")])[0].port_type
    with open(module, "rb") as handle:
        module_bytes = handle.read()
    rng = random.Random()
    span = 0.0  # the commit's length, measured by the first run: the random offsets fall in it
    seen_workers = reversed_count = 0
    for run, how in enumerate(SCHEDULES[name]):
        offset = rng.uniform(0, span) if span and how != "early" else rng.uniform(0.05, 0.5)
        elapsed, workers, survivors = _signal_run(
            root, env, state, module, "kill" if how == "early" else how, offset, log)
        span = span or elapsed
        where = "{} {} at {:.2f}s of the commit ({} backend; workers then: {})".format(
            how, run, elapsed, name, workers)
        assert not survivors, "still running after the run died: {} ({})".format(
            survivors, where)
        seen_workers += bool(workers)

        entry = _commit_entry(os.path.join(state, "journal", "postfix-sub.json"))
        data = entry["data"]
        record = UndoRecord.from_dict(data.get("undo_record") or data["planned"])
        assert (record.ports, record.modules) == ([(PORT, "tcp", None)], [(MODULE, None)]), where
        assert record.subs_touched and record.subs_before == before["subs"], where
        now = _store(root)
        held = set()
        if now["ports"] != before["ports"]:
            assert [r.context.split(":")[2] for r in now["ports"] if r.low == PORT] == [
                "smtp_port_t"], where
            held.add("port {}/tcp".format(PORT))
        if now["module"] is not None:
            assert now["module"][1] == module_bytes, where
            held.add("module " + MODULE)
        if now["subs"] != before["subs"]:
            assert b"/var/spool/postfix-sub /var/spool/postfix\n" in now["subs"], where
            held.add("file_contexts.subs")
        if name == "libsemanage":  # port and module commit in one store transaction
            assert ("port {}/tcp".format(PORT) in held) == ("module " + MODULE in held), where
        if entry["state"] == "done":
            assert len(held) == 3, where

        preview = undo("postfix-sub", state, root.root, dry_run=True)
        undone = undo("postfix-sub", state, root.root)
        assert undone == preview, where
        item, = [u for u in undone if u["kind"] == "commit-policy"]
        assert item["reversed"] is bool(held), (item, where)
        if held:
            assert set(item["detail"].split(", ")) == held, (item, where)
            reversed_count += 1
        assert _store(root) == before, "undo did not restore the store ({})".format(where)
        assert not os.path.exists(os.path.join(state, "journal", "postfix-sub.json"))
    assert seen_workers, "no signal landed while the commit's worker ran"
    assert reversed_count, "no run left its change in the store: nothing was undone"
    assert PortCheck(root).check([(PORT, "tcp")])[0].port_type == port_type


def _write_pid_and_wait(pid_file):
    with open(pid_file + ".tmp", "w") as handle:
        handle.write(str(os.getpid()))
    os.rename(pid_file + ".tmp", pid_file)
    time.sleep(60)


def _interrupted(pid_file, call, *args):
    """``call(*args)`` interrupted by a KeyboardInterrupt (as from Ctrl-C) once ``pid_file``
    exists; returns the pid it names."""
    this_process = os.getpid()

    def interrupt(signum, frame):
        # A SIGALRM that lands just before the fork leaves Python's "handler due" flag set in
        # the forked worker too, which then runs this handler itself: only this process acts.
        if os.getpid() != this_process:
            return
        if not os.path.exists(pid_file):
            signal.setitimer(signal.ITIMER_REAL, 0.05)
            return
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with pytest.raises(KeyboardInterrupt):
            call(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    with open(pid_file) as handle:
        return int(handle.read())


def test_an_interrupted_parent_kills_and_reaps_its_store_worker(tmp_path):
    pid = _interrupted(str(tmp_path / "pid"), _in_child_process, _write_pid_and_wait,
                       str(tmp_path / "pid"))
    assert not os.path.exists("/proc/{}".format(pid)), "the worker outlived the interrupt"


def test_an_interrupted_parent_kills_and_reaps_its_store_command(tmp_path):
    pid_file = str(tmp_path / "pid")
    script = "echo $$ > {0}.tmp && mv {0}.tmp {0} && exec sleep 60".format(pid_file)
    pid = _interrupted(pid_file, store_cli._run, ["sh", "-c", script], "")
    assert not os.path.exists("/proc/{}".format(pid)), "the command outlived the interrupt"


def test_without_prctl_the_worker_still_runs(monkeypatch):
    monkeypatch.setattr(store_cli, "_libc_prctl", lambda: None)
    assert _in_child_process(os.getppid) == os.getpid()


@pytest.mark.parametrize("family", ["debian", "el9"], indirect=True)
def test_a_kill_before_semodule_commits_leaves_no_port_record(writable_root, monkeypatch):
    """The command backend (EL7, offline) rewrites ports.local, then runs semodule. Killed in
    between, the store holds no port: reads answer what it committed, a rerun commits the port
    into the policy, and undo has nothing to reverse."""
    root = writable_root
    before = read_local_ports(root)
    ports_local = open(store_cli.ports_local_path(root), "rb").read() if os.path.exists(
        store_cli.ports_local_path(root)) else None
    pid = os.fork()
    if pid == 0:  # the run that dies: SIGKILL as semodule would have started
        try:
            monkeypatch.setattr(store_cli, "_run", lambda *a: os.kill(os.getpid(), signal.SIGKILL))
            store = store_cli.CliStore(root)
            store.set_port(PORT, "tcp", "system_u:object_r:smtp_port_t:s0")
            store.commit()
        except BaseException as exc:  # pragma: no cover - reported by the exit status
            os.write(2, repr(exc).encode())
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    monkeypatch.undo()
    assert os.path.exists(store_cli._pending_path(root))
    assert [r.low for r in parse_ports(store_cli.ports_local_path(root))].count(PORT) == 1
    assert read_local_ports(root) == before, "a port record no policy holds was reported"

    number = root.commit_number()
    store = store_cli.CliStore(root)  # the rerun's store settles the killed run first
    assert not os.path.exists(store_cli._pending_path(root))
    assert (open(store_cli.ports_local_path(root), "rb").read() if ports_local is not None
            else None) == ports_local
    store.set_port(PORT, "tcp", "system_u:object_r:smtp_port_t:s0")
    store.commit()
    assert root.commit_number() == number + 1
    assert [r.low for r in read_local_ports(root)].count(PORT) == 1
    assert not os.path.exists(store_cli._pending_path(root))
    assert PortCheck(root).check([(PORT, "tcp")])[0].port_type == "smtp_port_t"


def parse_ports(path):
    with open(path) as handle:
        return store_cli.parse_ports_local(handle.read())
