"""Bad input on an offline root: one clear line, a non-zero exit, and nothing changed.

Offline mode (--root) keeps every path and side effect under the root; names and journals
cannot reach outside the state directory or the root; the lock is taken before the host is
looked at; a listener that takes another instance's socket, in any spelling, is refused before
anything changes. The policy does not matter here: the Debian family's store copy is used.
"""

import base64
import fcntl
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

from tests.plan.conftest import offline_tree
from tests.postfix.conftest import tree_digest

BIN = os.path.dirname(sys.executable)
ONE_FAMILY = pytest.mark.parametrize("family", ["debian"], indirect=True)


def tool(*args, **kwargs):
    env = dict(os.environ, **kwargs.pop("env", {}))
    env.pop("POSTMULTI_SELINUX_STATE_DIR", None)
    return subprocess.run([os.path.join(BIN, "postmulti-selinux")] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=env, timeout=600)


def one_line_error(proc, code=1):
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and ": error: " in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def snapshot(host):
    """Everything a refused run must leave as it was: the root's files and the policy store
    (the lock file a run takes first may appear)."""
    return dict((path, digest) for path, digest in tree_digest(host.root).items()
                if not path.endswith("/postmulti-selinux/lock"))


@pytest.fixture(scope="module")
def _shared(pristine_roots):
    """One offline host (Debian's store copy, postfix-sub made) for every refusal below: a
    refusal changes nothing, which each test asserts, so they can share it."""
    if "debian" not in pristine_roots:
        pytest.skip("the Debian reference policy (selinux-policy-default) is not installed")
    tree = offline_tree(pristine_roots["debian"], "default")
    yield tree
    tree.remove()


@pytest.fixture
def refusal_host(_shared):
    """The shared host; what a test planted (state directory, files it names) is removed after,
    and the host must then be as it was."""
    before = snapshot(_shared)
    saved = {}
    for name in ("etc/selinux/config", "etc/postfix/main.cf"):
        with open(_shared.path(name), "rb") as handle:
            saved[name] = handle.read()
    yield _shared
    shutil.rmtree(_shared.path("var/lib/postmulti-selinux"), ignore_errors=True)
    for name in ("x.json",):
        if os.path.exists(_shared.path(name)):
            os.unlink(_shared.path(name))
    for name, data in saved.items():
        with open(_shared.path(name), "wb") as handle:
            handle.write(data)
    assert snapshot(_shared) == before


@pytest.fixture
def fake_services(tmp_path):
    """systemctl/service/postfix wrappers first on PATH that record any call (offline mode must
    never start, stop or restart anything on the live host)."""
    marker = tmp_path / "calls"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("systemctl", "service"):
        script = bindir / name
        script.write_text("#!/bin/sh\necho {} \"$@\" >>{}\nexit 0\n".format(name, marker))
        script.chmod(0o755)
    return {"PATH": "{}:{}".format(bindir, os.environ["PATH"])}, marker


@ONE_FAMILY
def test_offline_paths_default_under_the_root_and_nothing_is_restarted(offline_host,
                                                                       fake_services):
    host = offline_host
    env, marker = fake_services
    proc = tool("secure", "postfix-sub", "--root", host.root, "--json", env=env)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    report = json.loads(proc.stdout)
    assert report["restarts"] == 0 and report["verification"] == []
    assert any("offline" in note and "not restarted" in note for note in report["notes"])
    assert not marker.exists(), marker.read_text()
    # --config-dir defaulted to ROOT/etc/postfix, the journal to ROOT/var/lib/postmulti-selinux.
    assert os.path.isfile(os.path.join(host.root, "var/lib/postmulti-selinux/journal",
                                       "postfix-sub.json"))
    undo = tool("undo", "postfix-sub", "--root", host.root, "--json", env=env)
    assert undo.returncode == 0 and json.loads(undo.stdout)["restarted"] is False
    assert not marker.exists()


@pytest.mark.parametrize("args,says", [
    (["--config-dir", "/etc/postfix"], "--config-dir /etc/postfix is outside --root"),
    (["--state-dir", "/var/lib/postmulti-selinux"], "is outside --root"),
    (["--state-dir", ""], "--state-dir is empty"),
    (["--root", ""], "--root is empty"),
])
def test_paths_outside_the_root_are_refused(refusal_host, args, says):
    host = refusal_host
    before = snapshot(host)
    argv = ["secure", "postfix-sub", "--root", host.root] + args
    line = one_line_error(tool(*argv))
    assert says in line
    assert snapshot(host) == before
    assert not os.path.exists("/var/lib/postmulti-selinux/journal/postfix-sub.json")


@pytest.mark.parametrize("command", ["undo", "check", "plan", "secure"])
def test_a_name_that_is_a_path_is_refused_everywhere(refusal_host, tmp_path, command):
    host = refusal_host
    state = os.path.join(host.root, "var/lib/postmulti-selinux")
    bait = os.path.join(host.root, "x.json")
    with open(bait, "w") as handle:
        json.dump({"instance": "../../x", "runs": []}, handle)
    os.makedirs(os.path.join(state, "journal"))
    argv = [command, "../../x", "--root", host.root]
    proc = tool(*argv)
    line = one_line_error(proc, 3 if command == "check" else 1)
    assert "contains '/'" in line
    assert os.path.exists(bait)


@pytest.mark.parametrize("journal,says", [
    ("[1, 2, 3]", "not a postmulti-selinux journal"),
    ('{"instance": "postfix-other", "runs": []}', "the journal of 'postfix-other'"),
    ('{"instance": "postfix-sub", "runs": [{"entries": [{"action": {"kind": "set-listener", '
     '"title": "t"}, "state": "done", "data": {"files": {"OUTSIDE": null}}}]}]}',
     "outside the root"),
    ('{"instance": "postfix-sub", "runs": [{"entries": [{"action": {"kind": "relabel"}, '
     '"state": "done", "data": {}}]}]}', "not an action"),
    ("\xff\xfe not json", "cannot read the journal"),
])
def test_a_journal_that_is_not_one_is_refused_and_never_written_through(
        refusal_host, tmp_path, journal, says):
    host = refusal_host
    outside = tmp_path / "outside-the-root"
    outside.write_text("must survive")
    path = os.path.join(host.root, "var/lib/postmulti-selinux/journal/postfix-sub.json")
    os.makedirs(os.path.dirname(path))
    with open(path, "w", encoding="latin-1") as handle:
        handle.write(journal.replace("OUTSIDE", str(outside)))
    before = snapshot(host)
    for argv in (["undo", "postfix-sub"], ["secure", "postfix-sub", "--no-restart"]):
        line = one_line_error(tool(*(argv + ["--root", host.root])))
        assert says in line, line
    assert outside.read_text() == "must survive"
    assert snapshot(host) == before


def test_the_lock_is_taken_before_the_host_is_looked_at(refusal_host):
    host = refusal_host
    state = os.path.join(host.root, "var/lib/postmulti-selinux")
    os.makedirs(state)
    with open(os.path.join(state, "lock"), "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # A child that does not exist: a run that looked first would say so; this one waits
        # for nobody and says who holds the host.
        line = one_line_error(tool("secure", "postfix-nope", "--root", host.root))
    assert "another postmulti-selinux run holds" in line


@pytest.mark.parametrize("args,says", [
    (["--listen", "127.0.0.1:\u0662\u0665"], "the port must be a number"),
    (["--listen", "127.0.0.1:25"], "which the parent already listens on"),
    (["--listen", "localhost:25"], "already listens on"),
    (["--listen", "[::1]:25"], "already listens on"),
    (["--listen", "[0:0::1]:25"], "already listens on"),
    (["--port", "25"], "already listens on"),
    (["--listen", "0.0.0.0:25"], "already listens on"),
])
def test_a_listener_that_takes_another_instances_socket_is_refused(refusal_host, args, says):
    host = refusal_host
    # The parent listens on 127.0.0.1:25 and [::1]:25 (loopback-only, both protocols).
    subprocess.run(["postconf", "-c", host.parent_dir, "-e", "inet_protocols = all"], check=True)
    before = snapshot(host)
    line = one_line_error(tool("secure", "postfix-sub", "--root", host.root, "--no-restart",
                               *args))
    assert says in line, line
    assert snapshot(host) == before


@ONE_FAMILY
def test_yes_is_accepted_by_secure_and_undo_alike(offline_host):
    host = offline_host
    assert tool("secure", "postfix-sub", "--root", host.root, "--yes").returncode == 0
    assert tool("undo", "postfix-sub", "--root", host.root, "--yes").returncode == 0


def test_usage_errors_are_one_line_and_json_with_json(tmp_path):
    for argv, code in ((["check", "--bogus", "--json"], 3), (["secure", "--bogus", "--json"], 2),
                       (["instances", "--config-dir", str(tmp_path / "none"), "--json"], 1),
                       (["preflight", "--config-dir", str(tmp_path / "none"), "--json"], 1),
                       (["labels", "--root", str(tmp_path / "none"), "--json"], 1),
                       (["undo", "--json"], 2)):
        proc = tool(*argv)
        one_line_error(proc, code)
        data = json.loads(proc.stdout)
        assert data["ok"] is False and data["error"], argv


def test_a_state_directory_that_cannot_be_used_is_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    blocker.chmod(stat.S_IRUSR)
    line = one_line_error(tool("undo", "postfix-sub", "--state-dir", str(blocker / "state")))
    assert "internal error" not in line


def test_a_non_utf8_selinux_config_and_a_too_long_name_are_one_line(refusal_host):
    host = refusal_host
    line = one_line_error(tool("secure", "postfix-" + "x" * 300, "--root", host.root))
    assert "longer than" in line
    config = os.path.join(host.root, "etc/selinux/config")
    with open(config, "wb") as handle:
        handle.write(b"SELINUX=enforcing\nSELINUXTYPE=def\xffault\n")
    before = snapshot(host)
    for argv in (["secure", "postfix-sub"], ["plan", "postfix-sub"], ["check", "postfix-sub"]):
        line = one_line_error(tool(*(argv + ["--root", host.root])),
                              3 if argv[0] == "check" else 1)
        assert "internal error" not in line
    assert snapshot(host) == before


def test_undo_reports_only_what_it_really_reversed(refusal_host):
    # A run killed right after journalling a config edit, before the edit: nothing to reverse.
    host = refusal_host
    master_cf = host.path("etc/postfix-sub/master.cf")
    with open(master_cf, "rb") as handle:
        current = base64.b64encode(handle.read()).decode("ascii")
    path = host.path("var/lib/postmulti-selinux/journal/postfix-sub.json")
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as handle:
        json.dump({"instance": "postfix-sub", "runs": [{"started": 0, "entries": [
            {"action": {"kind": "set-listener", "title": "postfix-sub: SMTP listener 10025"},
             "state": "begun", "data": {"files": {master_cf: current}}}]}]}, handle)
    for extra in (["--dry-run"], []):
        proc = tool("undo", "postfix-sub", "--root", host.root, "--json", *extra)
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        assert report["changed"] is False and report["restarted"] is False
        assert [i["reversed"] for i in report["undone"]] == [False]
        assert report["undone"][0]["detail"] == "the files are already as they were"
