"""Session fixtures for the AVC tests: the Debian reference policy on this host and the EL9
targeted policy from ../shared (unpacked once), plus copies of their stores for linking."""

import os
import subprocess

import pytest

from postmulti_selinux.avc.build import copy_store
from postmulti_selinux.avc.paths import SelabelExpected

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
REPO = os.path.dirname(os.path.dirname(HERE))
EL9_TARBALL = os.path.join(REPO, "..", "shared", "policies", "el9-targeted.tar.xz")
SEED = os.path.join(REPO, "..", "shared", "seed", "000_54bda691e280f0a3.txt")
DEBIAN_POLICY = "/etc/selinux/default/policy/policy.33"
DEBIAN_FC = "/etc/selinux/default/contexts/files/file_contexts"


def fixture_path(name):
    return os.path.join(FIXTURES, name)


class PolicyFiles(object):
    """A policy: binary file, file_contexts, root holding its store, store name."""

    def __init__(self, name, policy, file_contexts, root, store):
        self.name, self.policy, self.file_contexts = name, policy, file_contexts
        self.root, self.store = root, store

    def expected(self):
        return SelabelExpected(self.file_contexts)


@pytest.fixture(scope="session")
def debian():
    if not (os.path.exists(DEBIAN_POLICY) and os.path.exists(DEBIAN_FC)):
        pytest.skip("Debian reference policy (selinux-policy-default) is not installed")
    return PolicyFiles("debian", DEBIAN_POLICY, DEBIAN_FC, "/", "default")


@pytest.fixture(scope="session")
def el9(tmp_path_factory):
    if not os.path.exists(EL9_TARBALL):
        pytest.skip("EL9 targeted policy not found at {} (../shared is absent)".format(EL9_TARBALL))
    root = str(tmp_path_factory.mktemp("el9root"))
    subprocess.check_call(["tar", "-xJf", EL9_TARBALL, "-C", root])
    base = os.path.join(root, "etc/selinux/targeted")
    return PolicyFiles("el9", os.path.join(base, "policy/policy.33"),
                       os.path.join(base, "contexts/files/file_contexts"), root, "targeted")


@pytest.fixture(scope="session")
def debian_store_copy(debian, tmp_path_factory):
    """A temp root with a copy of the host's Debian store (never the host's own)."""
    if not os.path.isdir("/var/lib/selinux/default"):
        pytest.skip("no Debian module store at /var/lib/selinux/default")
    root = str(tmp_path_factory.mktemp("debianroot"))
    return copy_store("/", "default", root)


@pytest.fixture(params=["setools", "sesearch"])
def backend(request):
    """Both policy query backends (setools library; sesearch/seinfo CLI as on EL7)."""
    if request.param == "setools":
        pytest.importorskip("setools")
    elif subprocess.call(["sh", "-c", "command -v sesearch seinfo >/dev/null"]) != 0:
        pytest.skip("sesearch/seinfo not installed")
    return request.param


_POLICIES = {}


def cached_policy(path, backend="auto"):
    """One loaded policy per (file, backend) per session: loading/indexing costs about a second."""
    from postmulti_selinux.avc.policy import open_policy
    key = (path, backend)
    if key not in _POLICIES:
        _POLICIES[key] = open_policy(path, backend)
    return _POLICIES[key]
