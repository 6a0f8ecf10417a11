"""postfix-files read for one instance: the expected queue/data layout, what is missing or
wrong, completing it and putting it back, and the start-ability preflight (real postmulti)."""

import grp
import os
import pwd
import stat

import pytest

from postmulti_selinux.postfix import layout, preflight
from postmulti_selinux.postfix.layout import child_start_problems, missing_daemons

from tests.postfix.conftest import HOST_CONFIG_DIR, Tree, needs_root_postfix

HOST_POSTFIX_FILES = os.path.join(HOST_CONFIG_DIR, "postfix-files")
host_files = pytest.mark.skipif(not os.path.isfile(HOST_POSTFIX_FILES),
                                reason="no postfix-files on this host")


class FakePostfix(object):
    """Answers ``postconf -x NAMES`` from a dict, like the tools wrapper does."""

    def __init__(self, values):
        self.values = values
        self.calls = []

    def postconf(self, args, config_dir=None):
        self.calls.append((tuple(args), config_dir))
        return "".join("{} = {}\n".format(n, self.values[n]) for n in args[1:]
                       if n in self.values)


def _values(root, **extra):
    values = {"config_directory": root + "/etc/postfix-sub",
              "meta_directory": HOST_CONFIG_DIR,
              "queue_directory": root + "/var/spool/postfix-sub",
              "data_directory": root + "/var/lib/postfix-sub",
              "daemon_directory": "/usr/lib/postfix/sbin", "command_directory": "/usr/sbin",
              "shlib_directory": "/usr/lib/postfix", "sendmail_path": "/usr/sbin/sendmail",
              "newaliases_path": "/usr/bin/newaliases", "mailq_path": "/usr/bin/mailq",
              "html_directory": "no", "manpage_directory": "/usr/share/man",
              "readme_directory": "no", "sample_directory": "/etc/postfix",
              "mail_owner": "postfix", "setgid_group": "postdrop"}
    values.update(extra)
    return values


def test_preflight_offers_the_start_checks_too():
    assert preflight.child_start_problems is child_start_problems


def test_parse_records_fields_and_comments():
    text = "# comment\n\n/literal:d:root\n$queue_directory/x:d:$mail_owner:-:700:ucr\n" \
           "$queue_directory/y:d\n"
    records = layout.parse_records(text, "pf")
    assert [r.path for r in records] == ["$queue_directory/x", "$queue_directory/y"]
    assert records[0] == layout.Record("$queue_directory/x", "d", "$mail_owner", "", "700",
                                       "ucr", "pf:4")
    assert records[1].owner == records[1].mode == records[1].flags == ""
    assert layout.expand("${queue_directory}/a/$x", {"queue_directory": "/q", "x": "b"}) == "/q/a/b"


@host_files
def test_the_hosts_postfix_files_gives_only_the_childs_queue_and_data_directories(tmp_path):
    with open(HOST_POSTFIX_FILES) as handle:
        text = handle.read()
    records = layout.parse_records(text, HOST_POSTFIX_FILES)
    root = str(tmp_path)
    fake = FakePostfix(_values(root))
    entries = layout.expected_directories(fake, root + "/etc/postfix-sub", records)
    queue, data = root + "/var/spool/postfix-sub", root + "/var/lib/postfix-sub"
    assert all(e.path == data or e.path == queue or e.path.startswith(queue + "/")
               for e in entries)
    by_path = dict((e.path, e) for e in entries)
    postfix_uid = pwd.getpwnam("postfix").pw_uid
    postdrop_gid = grp.getgrnam("postdrop").gr_gid
    # exactly the queue and data directory records of the file, nothing shared
    wanted = set(r.path.replace("$queue_directory", queue).replace("$data_directory", data)
                 for r in records if r.type == "d" and "o" not in r.flags
                 and r.path.startswith(("$queue_directory", "$data_directory")))
    assert set(by_path) == wanted
    for name in ("public", "private", "maildrop", "incoming", "active", "pid"):
        assert queue + "/" + name in by_path
    assert by_path[queue + "/public"][1:4] == (postfix_uid, postdrop_gid, 0o710)
    assert by_path[queue + "/maildrop"][1:4] == (postfix_uid, postdrop_gid, 0o730)
    assert by_path[queue + "/private"][1:4] == (postfix_uid, -1, 0o700)
    assert by_path[queue + "/pid"][1:4] == (0, -1, 0o755)
    assert by_path[queue][1:4] == (0, -1, 0o755)
    assert by_path[data][1:4] == (postfix_uid, -1, 0o700)
    # the values come from the instance asked about
    assert all(config == root + "/etc/postfix-sub" for _, config in fake.calls)


def test_postfix_files_d_flags_and_unknown_parameters(tmp_path):
    meta = tmp_path / "meta"
    (meta / "postfix-files.d").mkdir(parents=True)
    (meta / "postfix-files").write_text(
        "$queue_directory:d:root:-:755:uc\n"
        "$queue_directory/old:d:$mail_owner:-:700:o\n"
        "$queue_directory/opt:d:$mail_owner:-:700:uc1\n"
        "$queue_directory/file:f:root:-:644\n"
        "$config_directory:d:root:-:755:u\n"
        "$daemon_directory/smtpd:f:root:-:755\n")
    (meta / "postfix-files.d" / "extra.files").write_text(
        "$queue_directory/extra:d:$mail_owner:$setgid_group:2750:c\n"
        "$no_such_parameter/x:d:root:-:755\n"
        "$queue_directory:d:$mail_owner:-:700\n")  # a later duplicate does not override
    root = str(tmp_path)
    fake = FakePostfix(_values(root, meta_directory=str(meta)))
    entries = layout.expected_directories(fake, root + "/etc/postfix-sub")
    queue = root + "/var/spool/postfix-sub"
    assert [(e.path, e.mode) for e in entries] == [(queue, 0o755), (queue + "/extra", 0o2750)]
    assert entries[1].source == str(meta / "postfix-files.d" / "extra.files") + ":1"
    os.makedirs(queue + "/opt")  # optional ("1") entries count once they exist
    assert queue + "/opt" in [e.path for e in layout.expected_directories(
        fake, root + "/etc/postfix-sub")]


@pytest.fixture(scope="module")
def child_tree():
    """One parent with postfix-sub made by real postmulti; tests put back what they change."""
    if os.geteuid() != 0:
        pytest.skip("needs root (postmulti, chown)")
    tree = Tree()
    try:
        tree.manager.create("postfix-sub")
        tree.child = tree.host().child("postfix-sub")
        yield tree
    finally:
        tree.remove()


def _state(path):
    st = os.stat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


@needs_root_postfix[0]
@needs_root_postfix[1]
@needs_root_postfix[2]
class TestRealChild(object):

    def test_postmulti_made_child_is_complete(self, child_tree):
        postfix, child = child_tree.manager.postfix, child_tree.child
        entries = layout.expected_directories(postfix, child)
        assert child.queue_directory + "/public" in [e.path for e in entries]
        assert child.data_directory in [e.path for e in entries]
        assert layout.layout_problems(postfix, child) == []
        assert child_start_problems(postfix, child) == []

    def test_missing_public_and_wrong_private_are_reported_fixed_and_put_back(self, child_tree):
        postfix, child = child_tree.manager.postfix, child_tree.child
        queue = child.queue_directory
        public, private = queue + "/public", queue + "/private"
        os.rmdir(public)
        os.chmod(private, 0o755)
        os.chown(child.data_directory, 0, 0)
        data_before = _state(child.data_directory)
        try:
            problems = layout.layout_problems(postfix, child)
            assert sorted((p.path, p.kind) for p in problems) == [
                (child.data_directory, "owner"), (private, "mode"), (public, "missing")]
            lines = [p.line() for p in problems]
            assert "{} is missing (postfix-files: postfix:postdrop 0710)".format(public) in lines
            assert "{} has mode 0755 instead of 0700".format(private) in lines
            entries = layout.expected_directories(postfix, child)
            states = [layout.path_state(e.path) for e in entries]
            result = layout.complete_layout(entries)
            assert result == {"created": [public]}
            assert layout.layout_problems(postfix, child) == []
            assert _state(public) == (pwd.getpwnam("postfix").pw_uid,
                                      grp.getgrnam("postdrop").gr_gid, 0o710)
            assert _state(private)[2] == 0o700
            assert layout.complete_layout(entries) == {"created": []}  # nothing left to do
            layout.restore_layout(states, result["created"])
            assert not os.path.exists(public)
            assert _state(private)[2] == 0o755
            assert _state(child.data_directory) == data_before
        finally:
            layout.complete_layout(layout.expected_directories(postfix, child))
        assert layout.layout_problems(postfix, child) == []

    def test_restore_keeps_a_created_directory_postfix_has_used(self, child_tree):
        postfix, child = child_tree.manager.postfix, child_tree.child
        hold = child.queue_directory + "/hold"
        os.rmdir(hold)
        entries = layout.expected_directories(postfix, child)
        states = [layout.path_state(e.path) for e in entries]
        result = layout.complete_layout(entries)
        assert result["created"] == [hold]
        with open(hold + "/QUEUEFILE", "w"):
            pass
        layout.restore_layout(states, result["created"])
        assert os.path.isdir(hold)
        os.unlink(hold + "/QUEUEFILE")
        assert layout.layout_problems(postfix, child) == []

    def test_start_problems_missing_daemon(self, child_tree):
        postfix, child = child_tree.manager.postfix, child_tree.child
        saved = {}
        for name in ("main.cf", "master.cf"):
            with open(os.path.join(child.config_directory, name), "rb") as handle:
                saved[name] = handle.read()
        try:
            postfix.postconf(["-M", "nosuch/unix=nosuch unix - - n - - nosuchd"],
                             child.config_directory)
            problems = child_start_problems(postfix, child)
            assert len(problems) == 1, problems
            assert "nosuch/unix" in problems[0] and "nosuchd" in problems[0]
            assert problems[0].startswith("postfix-sub: ")
            # switched off by master_service_disable: master never runs it
            postfix.postconf(["-e", "master_service_disable = nosuch/unix"],
                             child.config_directory)
            assert missing_daemons(postfix, child) == []
        finally:
            for name, data in saved.items():
                with open(os.path.join(child.config_directory, name), "wb") as handle:
                    handle.write(data)
        assert child_start_problems(postfix, child) == []

    def test_start_problems_queue_layout_and_postfix_check_fatal(self, child_tree):
        postfix, child = child_tree.manager.postfix, child_tree.child
        public = child.queue_directory + "/public"
        private = child.queue_directory + "/private"
        os.rmdir(public)
        with open(public, "w"):  # create-missing cannot mkdir over it: postfix check fails
            pass
        os.chmod(private, 0o750)
        notes = []
        try:
            problems = child_start_problems(postfix, child, notes)
            assert "postfix-sub: {} is not a directory".format(public) in problems
            assert "postfix-sub: {} has mode 0750 instead of 0700".format(private) in problems
            fatal = [p for p in problems if "postfix check" in p]
            assert fatal and all(p.count("\n") == 0 for p in problems)
            assert any("unable to create missing queue directories" in p for p in fatal), fatal
        finally:
            os.unlink(public)
            layout.complete_layout(layout.expected_directories(postfix, child))
        assert child_start_problems(postfix, child) == []
