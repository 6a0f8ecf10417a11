"""``check`` reports a child's problems read-only, with monitoring-plugin exit codes."""

import json
import os
import subprocess
import sys

from postmulti_selinux.plan.execute import Options, secure


def _check(host):
    exe = os.path.join(os.path.dirname(sys.executable), "postmulti-selinux")
    proc = subprocess.run([exe, "check", "postfix-sub", "--config-dir", host.parent_dir,
                           "--root", host.root, "--json"], stdout=subprocess.PIPE,
                          universal_newlines=True)
    data = json.loads(proc.stdout)
    return proc.returncode, dict((c["name"], c["status"]) for c in data["instances"][0]["checks"])


def test_check_before_and_after_secure(offline_host):
    host = offline_host
    host.manager.set_listener("postfix-sub", "127.0.0.1:2525")
    code, checks = _check(host)
    assert checks["selinux"] == 0
    assert checks["labels"] == 1
    assert checks["port 2525/tcp"] == (0 if host.family["port_2525_bindable"] else 2)
    assert code == max(checks.values())
    secure("postfix-sub", Options(config_dir=host.parent_dir, root=host.root, state=host.state,
                                  restart=False))
    code, checks = _check(host)
    assert checks["labels"] == 0 and checks["port 2525/tcp"] == 0
    assert code == max(checks.values())


def test_check_of_an_unknown_child_is_unknown(offline_host):
    exe = os.path.join(os.path.dirname(sys.executable), "postmulti-selinux")
    proc = subprocess.run([exe, "check", "postfix-nope", "--config-dir", offline_host.parent_dir,
                           "--root", offline_host.root], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 3
    assert "no Postfix child instance named 'postfix-nope'" in proc.stderr
    assert "Traceback" not in proc.stderr
