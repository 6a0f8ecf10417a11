"""A private ansible-core for the collection's tests, and helpers to run playbooks against localhost.

ansible-core is not a dependency of the tool: it lives in its own venv, cached under
/var/cache/postmulti-selinux/ansible-venv/VERSION (PMS_ANSIBLE_CACHE overrides the parent), made
with the distro python on first use. ansible-test keeps its per-test venvs under that cache's
home/ (HOME is pointed there), so the host's ~/.ansible is never touched.
"""

import fcntl
import json
import os
import shutil
import subprocess
import sys

import pytest

ANSIBLE_CORE = "2.16.19"  # the last series that still manages Python 2.7/3.6 hosts (EL7, EL8)
DEBIAN_ANSIBLE_CORE = "2.14.18"  # Debian 12's ansible-core package (the VM scenario's)
CACHE_ROOT = os.environ.get("PMS_ANSIBLE_CACHE", "/var/cache/postmulti-selinux/ansible-venv")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTION = os.path.join(ROOT, "ansible", "ansible_collections", "postmulti", "selinux")
FAKE_TOOL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_tool")
CALLBACK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "callback_plugins")
DISTRO_PYTHON = "/usr/bin/python3"

# ansible-test installs pip into each sanity venv with a bootstrap script it downloads from a
# host outside the package index; this stand-in does the same job with ensurepip and the index.
GET_PIP = '''"""ansible-test's pip bootstrap, offline: ensurepip, then pip installs the arguments."""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + sys.argv[1:]))
'''


class AnsibleEnv(object):
    """Paths and environment of the cached ansible-core venv."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.bin = os.path.join(prefix, "bin")
        self.home = os.path.join(prefix, "home")
        self.python_version = subprocess.run(
            [os.path.join(self.bin, "python"), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.strip()

    def env(self, collections_path, **extra):
        env = dict(os.environ)
        env.update(HOME=self.home, PATH=self.bin + os.pathsep + env.get("PATH", ""),
                   ANSIBLE_COLLECTIONS_PATH=collections_path, ANSIBLE_NOCOLOR="1",
                   ANSIBLE_FORCE_COLOR="0", ANSIBLE_LOCAL_TEMP=os.path.join(self.home, "tmp"),
                   ANSIBLE_HOST_KEY_CHECKING="0", ANSIBLE_RETRY_FILES_ENABLED="0",
                   ANSIBLE_DEPRECATION_WARNINGS="0", LC_ALL="C.UTF-8")
        env.update(extra)
        return env

    def run(self, argv, collections_path, cwd=None, **extra):
        """Run one of the venv's commands; returns the CompletedProcess (never raises on rc)."""
        return subprocess.run([os.path.join(self.bin, argv[0])] + list(argv[1:]), cwd=cwd,
                              env=self.env(collections_path, **extra), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, timeout=900)


def _ensure_venv(prefix, version):
    # type: (str, str) -> None
    marker = os.path.join(prefix, "ready")
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    with open(prefix + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(marker):
            return
        shutil.rmtree(prefix, ignore_errors=True)
        subprocess.run([DISTRO_PYTHON, "-m", "venv", prefix], check=True)
        pip = subprocess.run([os.path.join(prefix, "bin", "python"), "-m", "pip", "install", "-q",
                              "--disable-pip-version-check", "ansible-core==" + version],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        if pip.returncode != 0:
            raise RuntimeError("could not install ansible-core {} from the package index into {}:\n{}"
                               .format(version, prefix, pip.stdout[-2000:]))
        cache = os.path.join(prefix, "home", ".ansible", "test", "cache")
        os.makedirs(cache)
        os.makedirs(os.path.join(prefix, "home", "tmp"))
        with open(os.path.join(cache, "get_pip_23_1_2.py"), "w") as handle:
            handle.write(GET_PIP)
        with open(marker, "w") as handle:
            handle.write(version + "\n")


def ansible_core(version):
    # type: (str) -> AnsibleEnv
    prefix = os.path.join(CACHE_ROOT, version)
    _ensure_venv(prefix, version)
    return AnsibleEnv(prefix)


@pytest.fixture(scope="session")
def ansible_env():
    return ansible_core(ANSIBLE_CORE)


@pytest.fixture(scope="session")
def collections_root(tmp_path_factory):
    """A copy of the collection at .../ansible_collections/postmulti/selinux, as ansible-test wants."""
    root = str(tmp_path_factory.mktemp("collections"))
    shutil.copytree(COLLECTION, os.path.join(root, "ansible_collections", "postmulti", "selinux"),
                    ignore=shutil.ignore_patterns("output", "__pycache__"))
    return root


class PlaybookRun(object):
    """What the pms_record callback wrote for one ansible-playbook run."""

    def __init__(self, proc, record):
        self.rc = proc.returncode
        self.output = proc.stdout
        if not os.path.exists(record):
            raise AssertionError("ansible-playbook recorded nothing (rc={}):\n{}".format(
                proc.returncode, proc.stdout[-3000:]))
        with open(record) as handle:
            self.report = json.load(handle)

    @property
    def stats(self):
        return self.report["stats"]["localhost"]

    def results(self, name):
        """Every localhost result of the tasks called NAME (each loop item is its own result)."""
        found = []
        for entry in self.report["tasks"]:
            if entry["task"] == name and entry["host"] == "localhost":
                result = dict(entry["result"], failed=entry["status"] == "failed")
                found.extend(result.get("results", [result]))
        if not found:
            raise AssertionError("no task named {!r} ran:\n{}".format(name, self.output[-3000:]))
        return found

    def result(self, name):
        return self.results(name)[0]


@pytest.fixture
def fake_tool(tmp_path):
    """The fake CLI's state and call log for one test."""
    state = tmp_path / "fake-state.json"
    calls = tmp_path / "fake-calls.jsonl"
    calls.write_text("")

    return FakeTool(str(state), str(calls))


class FakeTool(object):
    """The fake CLI's state file and call log."""

    def __init__(self, state, calls):
        self.state_path = state
        self.calls_path = calls
        self.env = {"FAKE_PMS_STATE": state, "FAKE_PMS_CALLS": calls}

    def state(self):
        if not os.path.exists(self.state_path):
            return {}
        with open(self.state_path) as handle:
            return json.load(handle)

    def calls(self):
        with open(self.calls_path) as handle:
            return [json.loads(line) for line in handle]


@pytest.fixture
def playbook(ansible_env, collections_root, tmp_path, fake_tool):
    """run(playbook_path_or_text, *args, **env): ansible-playbook -c local against localhost."""
    return playbook_runner(ansible_env, collections_root, tmp_path, fake_tool)


def playbook_runner(ansible_env, collections_root, tmp_path, fake_tool):
    """A run() for one ansible-core venv (see the playbook fixture)."""

    def run(source, *args, **env):
        path = source
        if "\n" in source:
            path = str(tmp_path / "play.yml")
            with open(path, "w") as handle:
                handle.write(source)
        record = str(tmp_path / "record.json")
        if os.path.exists(record):
            os.unlink(record)
        extra = dict(fake_tool.env, PMS_ANSIBLE_RECORD=record, ANSIBLE_CALLBACKS_ENABLED="pms_record",
                     ANSIBLE_CALLBACK_PLUGINS=CALLBACK_DIR)
        extra["PATH"] = FAKE_TOOL_DIR + os.pathsep + ansible_env.bin + os.pathsep + os.environ.get("PATH", "")
        extra.update(env)
        proc = ansible_env.run(["ansible-playbook", "-c", "local", "-i", "localhost,",
                                "-e", "ansible_python_interpreter=" + DISTRO_PYTHON, path] + list(args),
                               collections_root, cwd=str(tmp_path), **extra)
        return PlaybookRun(proc, record)

    return run


