"""The postmulti.selinux collection: docs render, ansible-test sanity passes, and the module maps
the tool's --json contract to Ansible's changed / check mode / diff / failure conventions.

The module is driven against a fake CLI (tests/ansible/fake_tool) that speaks the same JSON; the
real tool end to end runs in the enforcing VM (tests/scenarios/30_ansible.sh).
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.ansible.conftest import (
    COLLECTION, DEBIAN_ANSIBLE_CORE, ROOT, ansible_core, playbook_runner)

MODULE = "postmulti.selinux.postmulti_selinux"
EXAMPLE = os.path.join(COLLECTION, "playbooks", "secure_children.yml")


def collection_in(root):
    return os.path.join(root, "ansible_collections", "postmulti", "selinux")


# -- docs and sanity -------------------------------------------------------------------------------

def test_ansible_doc_renders_the_module(ansible_env, collections_root):
    proc = ansible_env.run(["ansible-doc", MODULE], collections_root)
    assert proc.returncode == 0, proc.stdout
    for text in ("OPTIONS", "= name", "- listen", "- state", "EXAMPLES", "RETURN VALUES",
                 "check_mode", "diff_mode", "verification"):
        assert text in proc.stdout, text


def test_documented_options_match_the_argument_spec(ansible_env, collections_root):
    proc = ansible_env.run(["ansible-doc", "--json", MODULE], collections_root)
    assert proc.returncode == 0, proc.stdout
    doc = json.loads(proc.stdout)[MODULE]["doc"]
    assert sorted(doc["options"]) == ["create", "executable", "group", "instances", "listen", "name",
                                      "port", "state"]
    assert doc["options"]["state"]["choices"] == ["present", "absent"]
    assert sorted(doc["options"]["instances"]["suboptions"]) == [
        "create", "group", "listen", "name", "port", "state"]


def test_ansible_doc_renders_the_role(ansible_env, collections_root):
    proc = ansible_env.run(["ansible-doc", "-t", "role", "postmulti.selinux.secure_children"],
                           collections_root)
    assert proc.returncode == 0, proc.stdout
    assert "postmulti_selinux_instances" in proc.stdout
    assert "postmulti_selinux_wheel" in proc.stdout


def _sanity(ansible_env, root):
    return ansible_env.run(["ansible-test", "sanity", "--local", "--python", ansible_env.python_version,
                            "--skip-test", "pslint", "--skip-test", "shellcheck"],
                           root, cwd=collection_in(root))


def test_ansible_test_sanity_passes(ansible_env, collections_root):
    proc = _sanity(ansible_env, collections_root)
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert 'Running sanity test "validate-modules"' in proc.stdout
    assert 'Running sanity test "pylint"' in proc.stdout


def test_ansible_test_sanity_catches_undocumented_options(ansible_env, tmp_path):
    """Negative control: the sanity run above can fail."""
    root = str(tmp_path)
    shutil.copytree(COLLECTION, collection_in(root), ignore=shutil.ignore_patterns("output", "__pycache__"))
    module = os.path.join(collection_in(root), "plugins", "modules", "postmulti_selinux.py")
    with open(module) as handle:
        text = handle.read()
    with open(module, "w") as handle:
        handle.write(text.replace("executable=dict(type='path'),",
                                  "executable=dict(type='path'),\n            hidden=dict(type='str'),"))
    proc = _sanity(ansible_env, root)
    assert proc.returncode != 0
    assert "undocumented-parameter" in proc.stdout, proc.stdout[-3000:]


def test_module_runs_on_el7_and_el8_pythons():
    """The module runs on the managed host's Python: 2.7 (EL7's default) and 3.6 (EL8) too."""
    vermin = os.path.join(os.path.dirname(sys.executable), "vermin")
    proc = subprocess.run([vermin if os.path.exists(vermin) else "vermin", "-t=2.7-", "-t=3.6-", "--no-tips",
                           "--violations", "--eval-annotations",
                           os.path.join(COLLECTION, "plugins")],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert proc.returncode == 0, proc.stdout


# -- the module over the fake CLI ------------------------------------------------------------------

def task(**options):
    """A one-task playbook named "pms" calling the module with OPTIONS."""
    lines = ["- hosts: localhost", "  gather_facts: false", "  tasks:",
             "    - name: pms", "      {}:".format(MODULE)]
    lines += ["        {}: {}".format(key, json.dumps(value)) for key, value in options.items()]
    return "\n".join(lines) + "\n"


SEED = dict(name="postfix-sub", listen="127.0.0.1:10025")


@pytest.mark.parametrize("dry_run_changed", ["would change", "what was applied"])
def test_check_mode_reports_changed_and_changes_nothing(playbook, fake_tool, dry_run_changed):
    env = {"FAKE_PMS_DRYRUN_REPORTS_APPLIED": "1" if dry_run_changed == "what was applied" else "0"}
    run = playbook(task(**SEED), "--check", "--diff", **env)
    result = run.result("pms")
    assert run.rc == 0, run.output
    assert result["changed"] is True
    assert result["cmd"][-2:] == ["--dry-run", "--json"]
    assert result["applied"] == []
    assert fake_tool.state() == {}
    assert [a["satisfied"] for a in result["plan"]["actions"]] == [False] * 4
    diff = result["diff"]
    if dry_run_changed == "would change":
        assert diff["before"]["mislabeled_paths"] == 3 and diff["after"]["mislabeled_paths"] == 0
        assert diff["before"]["master_service_disable"] == ["inet"]
        assert diff["after"]["master_service_disable"] == []
        assert diff["before_header"] == "postfix-sub (before)"
    else:  # the report cannot picture the after state: the pending plan is the diff
        assert diff["prepared"].splitlines()[:3] == [
            "postfix-sub would change:",
            "+ label /etc/postfix-sub /var/spool/postfix-sub /var/lib/postfix-sub like the parent's",
            "    why: test"]
        assert "--- before" not in run.output and "+ make 127.0.0.1:10025 bindable" in run.output


def test_apply_then_rerun_is_idempotent(playbook, fake_tool):
    first = playbook(task(**SEED))
    assert first.rc == 0, first.output
    result = first.result("pms")
    assert result["changed"] is True
    assert [a["kind"] for a in result["applied"]] == ["fcontext-equivalence", "port-label",
                                                      "commit-policy", "relabel"]
    assert result["verification"] == [{"name": "listener 127.0.0.1:10025", "ok": True,
                                       "detail": "greeting 220, EHLO 250"}]
    assert result["notes"] == ["fake tool"]
    assert "diff" not in result  # only with --diff
    assert fake_tool.state() == {"postfix-sub": "127.0.0.1:10025"}

    second = playbook(task(**SEED), "--diff")
    assert second.rc == 0
    assert second.result("pms")["changed"] is False
    assert second.stats["changed"] == 0
    assert second.result("pms")["diff"]["before"] == second.result("pms")["diff"]["after"]
    # Check mode on a secured host predicts no change either.
    for flag in ("0", "1"):
        third = playbook(task(**SEED), "--check", FAKE_PMS_DRYRUN_REPORTS_APPLIED=flag)
        assert third.result("pms")["changed"] is False


def test_options_map_to_the_cli(playbook, fake_tool):
    run = playbook(task(name="postfix-out", listen="127.0.0.1:2525", group="mta", create=True))
    assert run.rc == 0, run.output
    assert fake_tool.calls() == [["secure", "postfix-out", "--listen", "127.0.0.1:2525",
                                  "--group", "mta", "--create", "--json"]]
    playbook(task(name="postfix-in", port=2526))
    assert fake_tool.calls()[-1] == ["secure", "postfix-in", "--port", "2526", "--json"]


def test_state_absent_undoes_and_is_idempotent(playbook, fake_tool):
    playbook(task(**SEED))
    predicted = playbook(task(name="postfix-sub", state="absent"), "--check")
    assert predicted.result("pms")["changed"] is True
    assert fake_tool.calls()[-1] == ["undo", "postfix-sub", "--dry-run", "--json"]
    assert fake_tool.state() == {"postfix-sub": "127.0.0.1:10025"}

    undone = playbook(task(name="postfix-sub", state="absent"))
    assert undone.result("pms")["changed"] is True
    assert undone.result("pms")["undone"] == [{"kind": "fcontext-equivalence", "title": "remove",
                                               "state": "done", "reversed": True}]
    assert fake_tool.state() == {}
    again = playbook(task(name="postfix-sub", state="absent", listen="127.0.0.1:10025", create=True))
    assert again.rc == 0
    assert again.result("pms")["changed"] is False
    assert fake_tool.calls()[-1] == ["undo", "postfix-sub", "--json"]  # secure's options are ignored


def test_the_tools_one_line_error_is_the_failure_message(playbook):
    run = playbook(task(name="broken"))
    result = run.result("pms")
    assert run.rc != 0
    assert result["failed"] is True
    assert result["msg"] == "no Postfix instance named 'broken' (postmulti -l lists: -, postfix-sub)"
    assert "Traceback" not in run.output


def test_failed_verification_fails_the_task_and_reports_what_changed(playbook, fake_tool):
    run = playbook(task(**SEED), FAKE_PMS_VERIFY_FAIL="1")
    result = run.result("pms")
    assert result["failed"] is True
    assert result["msg"] == "verification failed: listener 127.0.0.1:10025"
    assert result["changed"] is True
    assert result["report"]["verification"][0]["ok"] is False


HOST = [dict(name="postfix-a", listen="127.0.0.1:10025"),
        dict(name="postfix-srv", listen="127.0.0.1:10026", group="mta", create=True),
        dict(name="postfix-out", port=2525)]


def test_a_list_of_instances_is_one_tool_run_then_a_noop(playbook, fake_tool):
    check = playbook(task(instances=HOST), "--check", "--diff")
    assert check.rc == 0, check.output
    assert check.result("pms")["changed"] is True and fake_tool.state() == {}
    assert set(check.result("pms")["diff"]["before"]) == {"postfix-a", "postfix-srv", "postfix-out"}

    run = playbook(task(instances=HOST))
    assert run.rc == 0, run.output
    # One secure run, the list on stdin (the fake logs it as its last argument).
    assert fake_tool.calls()[-1] == ["secure", "--instances-json", "-", "--json", [
        {"name": "postfix-a", "listen": "127.0.0.1:10025"},
        {"name": "postfix-srv", "listen": "127.0.0.1:10026", "group": "mta", "create": True},
        {"name": "postfix-out", "port": 2525}]]
    result = run.result("pms")
    assert result["report"]["restarts"] == 1 and result["report"]["store_rebuilds"] == 1
    assert [(i["instance"], i["state"], i["changed"], i["ok"]) for i in result["instances"]] == [
        ("postfix-a", "present", True, True), ("postfix-srv", "present", True, True),
        ("postfix-out", "present", True, True)]
    assert fake_tool.state() == {"postfix-a": "127.0.0.1:10025", "postfix-srv": "127.0.0.1:10026",
                                 "postfix-out": "*:2525"}
    again = playbook(task(instances=HOST))
    assert again.result("pms")["changed"] is False and again.stats["changed"] == 0


def test_absent_items_are_one_undo_run_beside_the_secure_run(playbook, fake_tool):
    playbook(task(instances=HOST))
    flipped = [dict(HOST[0], state="absent"), HOST[1], dict(HOST[2], state="absent")]
    run = playbook(task(instances=flipped))
    assert run.rc == 0, run.output
    assert fake_tool.calls()[-2:] == [
        ["undo", "postfix-a", "postfix-out", "--json"],
        ["secure", "--instances-json", "-", "--json", [
            {"name": "postfix-srv", "listen": "127.0.0.1:10026", "group": "mta", "create": True}]]]
    result = run.result("pms")
    assert result["changed"] is True
    assert [(i["instance"], i["state"], i["changed"]) for i in result["instances"]] == [
        ("postfix-a", "absent", True), ("postfix-srv", "present", False),
        ("postfix-out", "absent", True)]
    assert fake_tool.state() == {"postfix-srv": "127.0.0.1:10026"}
    everything = playbook(task(instances=HOST, state="absent"))
    assert fake_tool.calls()[-1] == ["undo", "postfix-a", "postfix-srv", "postfix-out", "--json"]
    assert everything.result("pms")["changed"] is True and fake_tool.state() == {}


def test_one_failing_child_of_a_list_fails_the_task_and_names_it(playbook, fake_tool):
    run = playbook(task(instances=HOST[:1] + [dict(name="postfix-b", port=2526)]),
                   FAKE_PMS_VERIFY_FAIL="1")
    result = run.result("pms")
    assert result["failed"] is True
    assert result["msg"] == ("verification failed: postfix-a: listener 127.0.0.1:10025, "
                             "postfix-b: listener *:2526")
    assert [i["ok"] for i in result["instances"]] == [False, False]


@pytest.mark.parametrize("options, message", [
    (dict(name="x", instances=[dict(name="y")]), "mutually exclusive"),
    (dict(instances=[dict(name="y")], listen="127.0.0.1:1"), "mutually exclusive"),
    (dict(instances=[dict(name="y", listen="127.0.0.1:1", port=1)]), "mutually exclusive"),
    (dict(instances=[dict(name="y", port=70000)]), "port must be between 1 and 65535, got 70000 (y)"),
    (dict(instances=[dict(name="y"), dict(name="y", state="absent")]), "instances names y more than once"),
    (dict(instances=[dict(listen="127.0.0.1:1")]), "name"),
    (dict(listen="127.0.0.1:1"), "one of the following is required: name, instances"),
    (dict(name="x", listen="127.0.0.1:1", port=1), "mutually exclusive"),
    (dict(name="x", port=70000), "port must be between 1 and 65535"),
    (dict(name="x", executable="/nonexistent/postmulti-selinux"), "is not an executable file"),
])
def test_bad_options_fail_before_the_tool_runs(playbook, fake_tool, options, message):
    run = playbook(task(**options))
    result = run.result("pms")
    assert result["failed"] is True
    assert message in result["msg"]
    assert fake_tool.calls() == []


def test_a_missing_tool_is_a_clear_failure(playbook, ansible_env):
    run = playbook(task(**SEED), PATH=ansible_env.bin + os.pathsep + "/usr/bin:/bin")
    result = run.result("pms")
    assert result["failed"] is True
    assert "postmulti-selinux" in result["msg"]


# -- the example playbook and the role -------------------------------------------------------------

NO_INSTALL = ["-e", "postmulti_selinux_install=false"]


@pytest.fixture(params=["pypi", "debian"])
def any_ansible_playbook(request, playbook, collections_root, tmp_path, fake_tool):
    """The playbook runner of the tests' ansible-core, then of Debian 12's version (the VM's)."""
    if request.param == "pypi":
        return playbook
    return playbook_runner(ansible_core(DEBIAN_ANSIBLE_CORE), collections_root, tmp_path, fake_tool)


def test_example_playbook_check_apply_rerun_absent(any_ansible_playbook, fake_tool):
    playbook = any_ansible_playbook
    check = playbook(EXAMPLE, "--check", *NO_INSTALL)
    assert check.rc == 0, check.output
    assert check.stats["changed"] == 1
    assert fake_tool.state() == {}

    apply = playbook(EXAMPLE, *NO_INSTALL)
    assert apply.stats["changed"] == 1
    secured = apply.result("Secure the Postfix child instances")["instances"]
    assert [(r["instance"], r["state"], r["changed"]) for r in secured] == [
        ("postfix-sub", "present", True)]
    assert fake_tool.state() == {"postfix-sub": "127.0.0.1:10025"}

    rerun = playbook(EXAMPLE, *NO_INSTALL)
    assert rerun.stats["changed"] == 0

    absent = playbook(EXAMPLE, "-e", "postmulti_selinux_state=absent", *NO_INSTALL)
    assert absent.stats["changed"] == 1
    assert fake_tool.state() == {}


@pytest.fixture(scope="session")
def project_wheel(tmp_path_factory):
    target = str(tmp_path_factory.mktemp("wheel"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", target, ROOT], check=True)
    (wheel,) = [os.path.join(target, name) for name in os.listdir(target) if name.endswith(".whl")]
    return wheel


def test_role_installs_the_tool_from_a_wheel_into_a_venv(playbook, fake_tool, project_wheel, tmp_path):
    """The role's install path on this Debian host (distro packages left alone): a venv that sees
    the distro bindings, the wheel, links; a rerun changes nothing."""
    prefix = tmp_path / "opt"
    links = tmp_path / "sbin"
    links.mkdir()
    args = ["-e", json.dumps({"postmulti_selinux_install_packages": False,
                              "postmulti_selinux_wheel": project_wheel,
                              "postmulti_selinux_prefix": str(prefix),
                              "postmulti_selinux_link_dir": str(links),
                              "postmulti_selinux_instances": []})]
    first = playbook(EXAMPLE, *args)
    assert first.rc == 0, first.output
    assert first.result("Install postmulti-selinux into the virtualenv")["changed"] is True
    tool = links / "postmulti-selinux"
    assert os.path.realpath(str(tool)) == str(prefix / "bin" / "postmulti-selinux")
    version = subprocess.run([str(tool), "--version"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, universal_newlines=True)
    assert version.returncode == 0, version.stdout
    assert "postmulti-selinux" in version.stdout
    selinux = subprocess.run([str(prefix / "bin" / "python"), "-c", "import selinux, semanage"])
    assert selinux.returncode == 0, "the venv does not see the distro's SELinux bindings"
    assert (links / "secure-child").is_symlink()

    again = playbook(EXAMPLE, *args)
    assert again.rc == 0, again.output
    assert again.stats["changed"] == 0, again.output


# -- the module over the project's real CLI (harmless calls only) ----------------------------------

REAL_TOOL = os.path.join(os.path.dirname(sys.executable), "postmulti-selinux")


def _real_cli_has_secure():
    if not os.path.exists(REAL_TOOL):
        return False
    return subprocess.run([REAL_TOOL, "secure", "--help"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


real_cli = pytest.mark.skipif(not _real_cli_has_secure(),
                              reason="the project's CLI has no 'secure' subcommand in this checkout")


@pytest.fixture
def real_state_dir(tmp_path):
    """The real tool's journal and lock go to a temp dir, never /var/lib/postmulti-selinux."""
    path = tmp_path / "pms-state"
    path.mkdir()
    return str(path)


@real_cli
def test_real_cli_error_is_the_task_failure(playbook, real_state_dir):
    """A name the tool rejects before touching the host: the task fails with the tool's own line."""
    argv = [REAL_TOOL, "secure", "no-such-child", "--dry-run", "--json"]
    direct = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                            env=dict(os.environ, POSTMULTI_SELINUX_STATE_DIR=real_state_dir))
    expected = json.loads(direct.stdout)
    assert direct.returncode != 0 and expected["ok"] is False
    run = playbook(task(name="no-such-child", executable=REAL_TOOL), "--check",
                   POSTMULTI_SELINUX_STATE_DIR=real_state_dir)
    result = run.result("pms")
    assert result["failed"] is True
    assert result["msg"] == expected["error"]
    assert result["cmd"] == argv


@real_cli
def test_real_cli_reads_the_instances_list_from_stdin(playbook, real_state_dir):
    """The instances option against the real CLI: the list goes in on stdin, the tool's own
    line comes back as the failure."""
    argv = [REAL_TOOL, "secure", "--instances-json", "-", "--dry-run", "--json"]
    direct = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                            input=json.dumps([{"name": "no-such-child"}]),
                            env=dict(os.environ, POSTMULTI_SELINUX_STATE_DIR=real_state_dir))
    expected = json.loads(direct.stdout)
    assert direct.returncode != 0 and "no-such-child" in expected["error"]
    run = playbook(task(instances=[{"name": "no-such-child"}], executable=REAL_TOOL), "--check",
                   POSTMULTI_SELINUX_STATE_DIR=real_state_dir)
    result = run.result("pms")
    assert result["failed"] is True
    assert result["msg"] == expected["error"]
    assert result["cmd"] == argv


@real_cli
def test_real_cli_absent_on_a_never_secured_child_changes_nothing(playbook, real_state_dir):
    run = playbook(task(name="postfix-never", state="absent", executable=REAL_TOOL),
                   POSTMULTI_SELINUX_STATE_DIR=real_state_dir)
    result = run.result("pms")
    assert run.rc == 0, run.output
    assert result["changed"] is False
    assert result["undone"] == []
