"""Equivalence checks on a minimal fixture policy root (parsing and conflict rules only)."""

import os

import pytest

from postmulti_selinux.errors import ToolError
from postmulti_selinux.selinux import Equivalence, PolicyRoot, SubsFile, check_equivalence
from postmulti_selinux.selinux.equivalence import write_atomically


@pytest.fixture
def fixture_root(tmp_path):
    files = tmp_path / "etc/selinux/fixture/contexts/files"
    files.mkdir(parents=True)
    (files / "file_contexts").write_text("/var/spool/postfix(/.*)?  system_u:object_r:x_t:s0\n")
    (files / "file_contexts.subs").write_text("# local\n/srv/existing /var/spool/postfix\n")
    (files / "file_contexts.subs_dist").write_text("/run /var/run\n")
    (files / "file_contexts.local").write_text("/data/ruled(/.*)?  system_u:object_r:y_t:s0\n")
    return PolicyRoot(str(tmp_path), "fixture")


def check(root, parent, child):
    return check_equivalence(SubsFile(root), root, Equivalence(parent, child))


def test_new_and_existing(fixture_root):
    assert check(fixture_root, "/var/spool/postfix", "/var/spool/postfix-sub") is True
    assert check(fixture_root, "/var/spool/postfix", "/srv/existing") is False


@pytest.mark.parametrize("parent,child,message", [
    ("/etc/postfix", "/srv/existing", "already equivalent"),
    ("/var/spool/postfix", "/srv", "overlap"),
    ("/var/spool/postfix", "/srv/existing/sub", "overlap"),
    ("/var/spool/postfix", "/run/postfix-sub", "overlap"),
    ("/var/spool/postfix", "/data/ruled", "local file-context rules"),
    ("/var/spool/postfix", "/data", "local file-context rules"),
    ("/var/spool/postfix", "/var/spool/postfix/sub", "nested"),
    ("/var/spool/postfix", "/var/spool/postfix-sub/", "normalised"),
    ("/var/spool/postfix", "relative", "normalised"),
])
def test_conflicts_are_refused(fixture_root, parent, child, message):
    with pytest.raises(ToolError, match=message):
        check(fixture_root, parent, child)


def test_render_keeps_comments_and_write_is_atomic(fixture_root):
    subs = SubsFile(fixture_root)
    data = subs.render([Equivalence("/etc/postfix", "/etc/postfix-sub")])
    assert data == b"# local\n/srv/existing /var/spool/postfix\n/etc/postfix-sub /etc/postfix\n"
    os.chmod(subs.path, 0o600)
    write_atomically(subs.path, data)
    assert open(subs.path, "rb").read() == data and os.stat(subs.path).st_mode & 0o777 == 0o600
    write_atomically(subs.path, subs.original)
    assert open(subs.path, "rb").read() == subs.original
