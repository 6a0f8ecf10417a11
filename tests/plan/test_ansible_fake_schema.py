"""The Ansible module's tests drive a fake CLI (tests/ansible/fake_tool): it must speak the real
tool's --json, so its reports are compared here with the real CLI's on an offline root."""

import json
import os
import subprocess
import sys

import pytest

from postmulti_selinux.plan import actions, recovery

FAKE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ansible",
                    "fake_tool", "postmulti-selinux")
REAL = os.path.join(os.path.dirname(sys.executable), "postmulti-selinux")
REAL_KINDS = set(cls.kind for module in (actions, recovery) for cls in vars(module).values()
                 if isinstance(cls, type) and isinstance(getattr(cls, "kind", None), str))


VERIFIED_ONLY = {"verification[].name", "verification[].ok", "verification[].detail",
                 "rounds[].round", "rounds[].failed", "rounds[].findings"}


def shape(value):
    """The keys of a report, recursively (a list by its first item's shape)."""
    if isinstance(value, dict):
        return dict((key, shape(item)) for key, item in value.items())
    if isinstance(value, list):
        return "list"
    return type(value).__name__ if value is not None else "null"


def keys(value, prefix=""):
    """Every key path in a report ("plan.actions[].kind")."""
    found = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found.add(prefix + key)
            found |= keys(item, prefix + key + ".")
    elif isinstance(value, list) and value:
        found |= keys(value[0], prefix.rstrip(".") + "[].")
    return found


def report_keys(report):
    """keys(), with the figures' own keys left out: which phases ran and which programs were
    started depend on the run (the fake gives the two objects, not their contents)."""
    return set(k for k in keys(report) if not k.startswith(("timings.", "probes.")))


def run(exe, argv, tmp_path, stdin=None):
    env = dict(os.environ, FAKE_PMS_STATE=str(tmp_path / "fake.json"),
               FAKE_PMS_CALLS=str(tmp_path / "calls.jsonl"))
    proc = subprocess.run([exe] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=env, timeout=600, input=stdin or "")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("family", ["debian"], indirect=True)
def test_the_fake_speaks_the_real_tools_json(offline_host, tmp_path):
    common = ["--listen", "127.0.0.1:10025", "--root", offline_host.root, "--json"]
    for extra in (["--dry-run"], []):
        real = run(REAL, ["secure", "postfix-sub"] + common + extra, tmp_path)
        fake = run(FAKE, ["secure", "postfix-sub"] + common + extra, tmp_path)
        # Offline, the real tool restarts and verifies nothing: those lists stay empty there.
        assert report_keys(fake) - VERIFIED_ONLY == report_keys(real) - VERIFIED_ONLY, \
            sorted(report_keys(fake) ^ report_keys(real))
        assert set(a["kind"] for a in fake["plan"]["actions"]) <= REAL_KINDS
        assert shape(fake["diff"]) == shape(real["diff"])
    real_undo = run(REAL, ["undo", "postfix-sub", "--root", offline_host.root, "--json"],
                    tmp_path)
    fake_undo = run(FAKE, ["undo", "postfix-sub", "--json"], tmp_path)
    assert keys(fake_undo) <= keys(real_undo), sorted(keys(fake_undo) - keys(real_undo))


@pytest.mark.parametrize("family", ["debian"], indirect=True)
def test_the_fake_speaks_the_real_tools_host_report(offline_host, tmp_path):
    """The module's instances option: ``secure --instances-json -`` (one host report)."""
    specs = json.dumps([{"name": "postfix-sub", "listen": "127.0.0.1:10025"}])
    common = ["secure", "--instances-json", "-", "--root", offline_host.root, "--json"]
    for extra in (["--dry-run"], []):
        real = run(REAL, common + extra, tmp_path, stdin=specs)
        fake = run(FAKE, common + extra, tmp_path, stdin=specs)
        verified = lambda found: set(  # noqa: E731 - what only a live run fills in
            k for k in found if k.startswith("children[].verification[].")) | VERIFIED_ONLY | {
            "verification[].instance"}
        assert report_keys(fake) - verified(report_keys(fake)) == \
            report_keys(real) - verified(report_keys(real)), \
            sorted(report_keys(fake) ^ report_keys(real))
        assert [c["instance"] for c in fake["children"]] == [
            c["instance"] for c in real["children"]] == ["postfix-sub"]
        assert set(fake["diff"]["before"]) == set(real["diff"]["before"]) == {"postfix-sub"}
        assert all(a["instance"] == "postfix-sub" for a in fake["plan"]["actions"])
        # the real run's shared actions (the one commit, the one relabel) name no child
        assert set(a["instance"] for a in real["plan"]["actions"]) == {"postfix-sub", None}
