"""Temp-tree Postfix parents (never the host's /etc/postfix) and children made by real postmulti."""

import hashlib
import os
import shutil
import signal
import socket
import tempfile
import time

import pytest

from postmulti_selinux.postfix import Manager, Postfix, discover, instance_running
from postmulti_selinux.postfix.tools import find_command, run_command

HOST_CONFIG_DIR = "/etc/postfix"


def _have_postfix():
    try:
        find_command("postmulti")
        return True
    except Exception:  # noqa: BLE001 - any failure means "not installed"
        return False


needs_root_postfix = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (postmulti, chown, mount namespace)"),
    pytest.mark.skipif(not _have_postfix(), reason="Postfix (postconf/postmulti) is not installed"),
]


def tree_digest(root):
    """path -> sha256 of every regular file below root (symlinks by target)."""
    digest = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                digest[path] = "link:" + os.readlink(path)
            elif os.path.isfile(path):
                with open(path, "rb") as handle:
                    digest[path] = hashlib.sha256(handle.read()).hexdigest()
    return digest


@pytest.fixture(scope="session", autouse=True)
def host_postfix_untouched():
    """The host's own /etc/postfix must be byte-identical after the whole session."""
    before = tree_digest(HOST_CONFIG_DIR) if os.path.isdir(HOST_CONFIG_DIR) else None
    yield
    if before is not None:
        assert tree_digest(HOST_CONFIG_DIR) == before, "tests changed the host's /etc/postfix"


LIVE_ROOTS = set()


def _age_config_files():
    """Postfix re-reads a main.cf/master.cf until it is ~2 s old ("cool down"); in tests we
    age the files of live test trees instead of sleeping. Only mtimes change, never bytes."""
    past = time.time() - 60
    for root in list(LIVE_ROOTS):
        etc = os.path.join(root, "etc")
        for dirpath, _, filenames in os.walk(etc):
            for name in filenames:
                if name in ("main.cf", "master.cf"):
                    try:
                        os.utime(os.path.join(dirpath, name), (past, past))
                    except OSError:
                        pass


@pytest.fixture(autouse=True)
def cool_config_files(monkeypatch):
    from postmulti_selinux.postfix import tools

    original = tools.run_command

    def run_cooled(argv, *args, **kwargs):
        _age_config_files()
        return original(argv, *args, **kwargs)

    monkeypatch.setattr(tools, "run_command", run_cooled)


def free_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


PARENT_MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/var/spool/postfix
data_directory = {root}/var/lib/postfix
myhostname = parent.example.test
mydestination = $myhostname, localhost
inet_interfaces = loopback-only
inet_protocols = ipv4
maillog_file_prefixes = {root}
maillog_file = {root}/var/log/postfix.log
"""


def make_parent(root):
    """A parent instance in ROOT/etc/postfix: generated main.cf, stock master.cf, meta files."""
    root = str(root)
    config = os.path.join(root, "etc", "postfix")
    for path in (config, os.path.join(root, "var", "spool", "postfix"),
                 os.path.join(root, "var", "lib", "postfix"), os.path.join(root, "var", "log")):
        os.makedirs(path)
    meta = run_command([find_command("postconf"), "-d", "-h", "meta_directory"]).stdout.strip()
    # postmulti runs with this directory bind-mounted over the default one, so it needs the
    # shared "meta" files (main.cf.proto, master.cf.proto, postfix-files, dynamicmaps.cf).
    for name in os.listdir(meta):
        if name in ("main.cf", "master.cf") or name.endswith(".bak"):
            continue
        src = os.path.join(meta, name)
        dst = os.path.join(config, name)
        if os.path.isdir(src) and not os.path.islink(src):
            shutil.copytree(src, dst, symlinks=True)
        else:
            shutil.copy2(src, dst, follow_symlinks=False)
    with open(os.path.join(config, "main.cf"), "w") as handle:
        handle.write(PARENT_MAIN_CF.format(root=root))
    shutil.copyfile(os.path.join(meta, "master.cf.proto"), os.path.join(config, "master.cf"))
    # Postfix waits while a main.cf looks freshly written; age the new files a little.
    past = time.time() - 60
    for name in ("main.cf", "master.cf"):
        os.utime(os.path.join(config, name), (past, past))
    return config


def _kill_instance(config_dir, queue_dir):
    """Stop a child however it was started (postfix stop, then SIGKILL the master)."""
    postfix = Postfix(config_dir)
    if os.path.isfile(os.path.join(config_dir, "main.cf")):
        postfix.postfix(config_dir, ["stop"], check=False)
    pid_file = os.path.join(queue_dir, "pid", "master.pid")
    for _ in range(50):
        try:
            with open(pid_file) as handle:
                pid = int(handle.read().strip() or 0)
            os.kill(pid, 0)
        except (OSError, ValueError):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


class Tree(object):
    """A temp-root multi-instance host under test.

    The root is a fresh 0755 directory under the system temp dir (not pytest's 0700 tree):
    Postfix daemons drop to the postfix user and must be able to reach their directories.
    """

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="postmulti-selinux-test-")
        os.chmod(self.root, 0o755)
        LIVE_ROOTS.add(self.root)
        self.parent_dir = make_parent(self.root)
        self.manager = Manager(self.parent_dir)

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def host(self):
        return discover(self.parent_dir)

    def stop_all(self):
        try:
            host = self.host()
        except Exception:  # noqa: BLE001 - best effort in a finalizer
            return
        for child in host.children:
            if child.queue_directory and instance_running(child):
                _kill_instance(child.config_directory, child.queue_directory)

    def remove(self):
        self.stop_all()
        LIVE_ROOTS.discard(self.root)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def parent_tree():
    """A parent only: postmulti -e init never ran."""
    tree = Tree()
    yield tree
    tree.remove()


def build_two_children(tree):
    """postfix-one at default-style paths, postfix-two (group mx) with custom queue/data dirs."""
    tree.manager.create("postfix-one")
    tree.manager.create("postfix-two", group="mx",
                        queue_directory=tree.path("srv", "mailq", "two"),
                        data_directory=tree.path("srv", "maildata", "two"))
    return tree


@pytest.fixture(scope="session")
def shared_host():
    """One two-child host per session; tests that change it undo their changes."""
    tree = Tree()
    try:
        build_two_children(tree)
        yield tree
    finally:
        tree.remove()


@pytest.fixture
def changes():
    """Collect Changes made in a test and undo them (newest first) afterwards."""
    from postmulti_selinux.postfix import undo
    made = []
    yield made
    for change in reversed(made):
        undo(change)
