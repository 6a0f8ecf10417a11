"""Undo's restart never leaves the parent down: a real parent and child under the
multi-instance wrapper, restarted the way EL's one postfix.service does it."""

import os
import pwd
import time

from postmulti_selinux.errors import ToolError
from postmulti_selinux.plan.recovery import parent_up, restart_after_undo
from postmulti_selinux.plan.service import ServiceManager
from postmulti_selinux.plan.verify import master_pid
from postmulti_selinux.postfix import discover
from postmulti_selinux.postfix.tools import find_command, run_command

from tests.postfix.conftest import free_port, needs_root_postfix

pytestmark = needs_root_postfix


class OnePostfixService(ServiceManager):
    """EL's postfix.service in miniature: ``postfix start`` runs the multi-instance wrapper
    (``postmulti -p start``) for every instance; when it fails, systemd stops the unit, so the
    parent stops too."""

    shared = True

    def __init__(self, tree):
        self.config_dir = tree.parent_dir
        self.postfix = tree.manager.postfix
        self.restarts = 0

    def _postmulti(self, verb):
        return self.postfix.postmulti(["-p", verb], check=False)

    def stop(self):
        """``postfix stop`` signals the masters; systemd then waits for them to exit."""
        self._postmulti("stop")
        queue_dirs = self.queue_dirs()
        for _ in range(100):
            if not any(master_pid(d) for d in queue_dirs):
                return
            time.sleep(0.1)

    def queue_dirs(self):
        host = discover(self.config_dir)
        return [host.parent.queue_directory] + [c.queue_directory for c in host.children
                                                if c.queue_directory]

    def restart(self, children=(), log=None):
        self.restarts += 1
        self.stop()
        started = self._postmulti("start")
        if started.returncode != 0:
            self.stop()
            raise ToolError("postfix start failed (exit {}): {}".format(started.returncode, started.stderr[-300:]))
        return 0.0


def _startable_parent(tree):
    """The test parent listening on a free loopback port, its data directory Postfix's own."""
    _listen(tree.parent_dir, "127.0.0.1:{}".format(free_port()))
    account = pwd.getpwnam("postfix")
    os.chown(tree.path("var", "lib", "postfix"), account.pw_uid, account.pw_gid)


def _listen(config_dir, service):
    run_command([find_command("postconf"), "-c", config_dir, "-F",
                 "smtp/inet/service = {}".format(service)])


def test_a_child_put_back_unstartable_is_taken_out_of_the_start_set_and_the_parent_runs(
        parent_tree):
    tree = parent_tree
    _startable_parent(tree)
    tree.manager.create("postfix-bad")
    child_dir = tree.path("etc", "postfix-bad")
    # As it was before secure-child: a listener on an address this host does not have.
    _listen(child_dir, "192.0.2.1:{}".format(free_port()))
    tree.manager.clear_master_service_disable("postfix-bad")
    tree.manager.enable("postfix-bad")
    service = OnePostfixService(tree)
    parent = tree.host().parent
    try:
        notes = restart_after_undo(["postfix-bad"], service, config_dir=tree.parent_dir)
        assert service.restarts == 2
        assert parent_up(parent, wait=10.0)
        assert not tree.manager.child("postfix-bad").enabled
        assert len(notes) == 1
        assert "postfix-bad is back as it was" in notes[0]
        assert "taken out of the start set" in notes[0]
        assert "'postmulti -i postfix-bad -e enable' puts it back" in notes[0]
    finally:
        service.stop()


def test_a_restart_that_works_says_nothing(parent_tree):
    tree = parent_tree
    _startable_parent(tree)
    tree.manager.init()
    service = OnePostfixService(tree)
    try:
        assert restart_after_undo(["postfix-gone"], service, config_dir=tree.parent_dir) == []
        assert service.restarts == 1 and parent_up(tree.host().parent, wait=10.0)
    finally:
        service.stop()
