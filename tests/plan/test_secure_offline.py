"""The one-shot engine against an offline root on both policy families: plan, apply (one store
transaction), relabel with real xattrs, idempotent rerun, exact undo, dry run changes nothing."""

import hashlib
import json
import os
import signal
import subprocess
import sys

import pytest

from postmulti_selinux.errors import ToolError
from postmulti_selinux.plan.execute import Options, secure
from postmulti_selinux.plan.undo import undo
from postmulti_selinux.selinux import ExpectedLabels, PolicyRoot, context_type, read_label


def _options(host, **extra):
    return Options(config_dir=host.parent_dir, root=host.root, state=host.state, restart=False,
                   **extra)


def _local_ports(host):
    """The store's local port records (a missing ports.local is an empty one)."""
    path = os.path.join(host.root, "var/lib/selinux", host.family["type"], "active/ports.local")
    if not os.path.exists(path):
        return ""
    with open(path) as handle:
        return "\n".join(l.strip() for l in handle if l.strip() and not l.startswith("#"))


def _digest(host, labels=True):
    """Every file's bytes, owner, mode and label under the root, except the journal and the
    store's generated files (a rebuilt policy.NN differs in bytes from the packaged one; what
    undo must restore there is the local customisations: see _local_ports and .subs, which
    this digest does cover)."""
    digest = hashlib.sha256()
    generated = (host.state, os.path.join(host.root, "var/lib/selinux"),
                 os.path.join(host.root, "etc/selinux", host.family["type"], "policy"))
    digest.update(_local_ports(host).encode())
    for top, dirs, files in os.walk(host.root):
        dirs.sort()
        if top.startswith(generated):
            continue
        for name in sorted(files) + [""]:
            path = os.path.join(top, name) if name else top
            st = os.lstat(path)
            digest.update("{} {} {} {}".format(path, st.st_uid, st.st_mode,
                                               read_label(path) if labels else "").encode())
            if name and os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as handle:
                    digest.update(handle.read())
    return digest.hexdigest()


def _child_labels_match_parent(host):
    root = PolicyRoot(host.root)
    pairs = [("/etc/postfix", "/etc/postfix-sub"),
             ("/var/spool/postfix", "/var/spool/postfix-sub"),
             ("/var/lib/postfix", "/var/lib/postfix-sub")]
    return ExpectedLabels(root).for_child(pairs)


def test_dry_run_changes_nothing(offline_host):
    before = _digest(offline_host)
    report = secure("postfix-sub", _options(offline_host, dry_run=True, listen="127.0.0.1:2525"))
    assert report.dry_run and not report.applied
    assert report.changed, "a dry run says whether a real run would change the host"
    kinds = [a["kind"] for a in report.as_dict()["plan"]["actions"] if not a["satisfied"]]
    assert "set-listener" in kinds and "relabel" in kinds
    assert _digest(offline_host) == before


def test_secure_labels_like_the_parent_then_nothing_to_do_then_exact_undo(offline_host):
    host = offline_host
    root = PolicyRoot(host.root)
    subs_before = open(root.subs_path, "rb").read() if os.path.exists(root.subs_path) else None
    config_before = [open(os.path.join(host.root, "etc/postfix-sub", n), "rb").read()
                     for n in ("main.cf", "master.cf")]
    assert _child_labels_match_parent(host), "the fixture's child must start mislabeled"
    commits = root.commit_number()

    report = secure("postfix-sub", _options(host, listen="127.0.0.1:2525"))
    kinds = [a["kind"] for a in report.applied]
    assert kinds[:3] == ["enable-child", "set-listener", "clear-master-service-disable"]
    assert "fcontext-equivalence" in kinds and "relabel" in kinds
    assert _child_labels_match_parent(host) == []
    public = os.path.join(host.root, "var/spool/postfix-sub/public")
    assert context_type(read_label(public)) == "postfix_public_t"
    # Port 2525: labelled only where this policy denies postfix_master_t the bind.
    port_labelled = "port-label" in kinds
    assert port_labelled == (not host.family["port_2525_bindable"])
    assert root.commit_number() - commits == (1 if port_labelled else 0)
    assert report.store_rebuilds == root.commit_number() - commits

    commits = root.commit_number()
    again = secure("postfix-sub", _options(host, listen="127.0.0.1:2525"))
    assert again.applied == [] and not again.changed
    assert root.commit_number() == commits

    digest = _digest(host)
    preview = undo("postfix-sub", host.state, host.root, dry_run=True)
    assert _digest(host) == digest, "undo --dry-run changed the host"

    undone = undo("postfix-sub", host.state, host.root)
    assert undone == preview
    assert {"fcontext-equivalence", "commit-policy", "relabel", "set-listener"} <= set(
        u["kind"] for u in undone)
    subs_after = open(root.subs_path, "rb").read() if os.path.exists(root.subs_path) else None
    assert subs_after == subs_before
    assert [open(os.path.join(host.root, "etc/postfix-sub", n), "rb").read()
            for n in ("main.cf", "master.cf")] == config_before
    assert _child_labels_match_parent(host), "after undo the policy no longer maps the child"
    # ... and the child's directories carry what the restored policy gives them.
    for entry in ExpectedLabels(root).for_child(
            [("/etc/postfix", "/etc/postfix-sub"), ("/var/spool/postfix", "/var/spool/postfix-sub")],
            only_differing=False):
        if entry.path in ("/etc/postfix-sub", "/var/spool/postfix-sub"):
            assert entry.current == entry.policy, entry
    assert undo("postfix-sub", host.state, host.root) == []


def test_refuses_a_host_with_selinux_disabled(offline_host):
    with open(os.path.join(offline_host.root, "etc/selinux/config"), "w") as handle:
        handle.write("SELINUX=disabled\nSELINUXTYPE={}\n".format(offline_host.family["type"]))
    before = _digest(offline_host)
    with pytest.raises(ToolError, match="SELinux is disabled"):
        secure("postfix-sub", _options(offline_host))
    assert _digest(offline_host) == before


def test_unknown_child_is_a_one_line_error(offline_host):
    with pytest.raises(ToolError, match="no Postfix child instance named 'postfix-nope'"):
        secure("postfix-nope", _options(offline_host))


KINDS = ["set-listener", "fcontext-equivalence", "commit-policy", "queue-layout", "relabel"]
# Every step on Debian; on EL9 (port 2525 needs no label there, so the commit is the subs file
# alone, without a store transaction) the steps whose outcome depends on the policy.
KILL_MATRIX = [("debian", kind) for kind in KINDS] + [("el9", "commit-policy"), ("el9", "relabel")]


@pytest.mark.parametrize("family,kill_at", KILL_MATRIX, indirect=["family"])
def test_killed_at_any_journal_step_the_next_run_converges(offline_host, kill_at):
    """SIGKILL right after the journal records KIND; rerun; then undo restores the start.

    Labels are left out of the comparison: undo relabels the trees to what the restored policy
    says, while this offline tree started with no labels at all (no SELinux kernel made it)."""
    host = offline_host
    # As after the seed's "postmulti -e create" under SELinux: set-permissions never got to it.
    os.chown(os.path.join(host.root, "var/lib/postfix-sub"), 0, 0)
    before = _digest(host, labels=False)
    cli = [os.path.join(os.path.dirname(sys.executable), "secure-child"), "postfix-sub",
           "--listen", "127.0.0.1:2525", "--config-dir", host.parent_dir, "--root", host.root,
           "--state-dir", host.state, "--no-restart"]
    killed = subprocess.run(cli, env=dict(os.environ, POSTMULTI_SELINUX_TEST_KILL_AT=kill_at),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert killed.returncode == -signal.SIGKILL
    rerun = subprocess.run(cli + ["--json"], stdout=subprocess.PIPE, universal_newlines=True)
    assert rerun.returncode == 0, rerun.stdout
    assert _child_labels_match_parent(host) == []
    final = subprocess.run(cli + ["--json"], stdout=subprocess.PIPE, universal_newlines=True)
    assert json.loads(final.stdout)["changed"] is False
    undone = undo("postfix-sub", host.state, host.root)
    # Killed before its commit ran: that entry held nothing, the rerun's own entry reversed it.
    assert [u["reversed"] for u in undone if u["kind"] == "commit-policy"] == (
        [True, False] if kill_at == "commit-policy" else [True])
    assert _digest(host, labels=False) == before


@pytest.mark.parametrize("family", ["debian"], indirect=True)  # the layout is policy-free
def test_queue_layout_postmulti_left_undone_is_completed_before_the_relabel_and_undone(
        offline_host):
    """As after postmulti's denied set-permissions: public/ missing, private/ and the data
    directory wrong. The plan makes them as postfix-files says, before the relabel (so the new
    directory is labeled), and undo removes only what it made and restores the rest."""
    host = offline_host
    queue = os.path.join(host.root, "var/spool/postfix-sub")
    os.rmdir(os.path.join(queue, "public"))
    os.chmod(os.path.join(queue, "private"), 0o755)
    os.chown(os.path.join(host.root, "var/lib/postfix-sub"), 0, 0)
    before = _digest(host, labels=False)
    dry = secure("postfix-sub", _options(host, dry_run=True))
    layout = [a for a in dry.as_dict()["plan"]["actions"] if a["kind"] == "queue-layout"]
    assert layout and not layout[0]["satisfied"]
    assert "set-permissions" in layout[0]["reason"]
    assert len(layout[0]["problems"]) == 3
    report = secure("postfix-sub", _options(host))
    kinds = [a["kind"] for a in report.applied]
    assert kinds.index("queue-layout") == kinds.index("relabel") - 1
    public = os.path.join(queue, "public")
    assert os.stat(public).st_mode & 0o7777 == 0o710
    assert context_type(read_label(public)) == "postfix_public_t"
    assert os.stat(os.path.join(queue, "private")).st_mode & 0o7777 == 0o700
    assert secure("postfix-sub", _options(host)).applied == []
    undo("postfix-sub", host.state, host.root)
    assert not os.path.exists(public)
    assert _digest(host, labels=False) == before
