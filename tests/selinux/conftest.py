"""Policy roots for the engine tests: copies of the real Debian reference policy store and of
the EL9 targeted store, extracted once per session and copied per test only when it writes."""

import os
import shutil
import subprocess
import tarfile

import pytest

from postmulti_selinux.selinux import PolicyRoot

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EL9_TARBALL = os.path.join(os.path.dirname(REPO), "shared", "policies", "el9-targeted.tar.xz")

# What each family's policy says (read off the policies; see shared/policies/README.md). The
# engine must get each right by asking the policy: these are the oracles, not engine inputs.
FAMILIES = {
    "debian": {"type": "default", "port_2525_bindable": False},
    "el9": {"type": "targeted", "port_2525_bindable": True},
}


def _copy_store(destination, source_root, policy_type):
    for part in ("etc/selinux", "var/lib/selinux"):
        os.makedirs(os.path.join(destination, part), exist_ok=True)
        shutil.copytree(os.path.join(source_root, part, policy_type),
                        os.path.join(destination, part, policy_type), symlinks=True)


@pytest.fixture(scope="session")
def pristine_roots(tmp_path_factory):
    """{family: pristine root dir}; families whose policy is not here are absent."""
    roots = {}
    if os.path.isdir("/etc/selinux/default") and os.path.isdir("/var/lib/selinux/default"):
        target = str(tmp_path_factory.mktemp("debian-policy"))
        _copy_store(target, "/", "default")
        roots["debian"] = target
    if os.path.exists(EL9_TARBALL):
        target = str(tmp_path_factory.mktemp("el9-policy"))
        with tarfile.open(EL9_TARBALL) as archive:
            archive.extractall(target)
        roots["el9"] = target
    return roots


@pytest.fixture(params=sorted(FAMILIES))
def family(request, pristine_roots):
    name = request.param
    if name not in pristine_roots:
        if name == "el9":
            pytest.skip("EL9 policy tarball not found at {} (a plain clone has no ../shared)".format(
                EL9_TARBALL))
        pytest.skip("the Debian reference policy (selinux-policy-default) is not installed")
    info = dict(FAMILIES[name])
    info["name"] = name
    info["pristine"] = pristine_roots[name]
    return info


@pytest.fixture
def readonly_root(family):
    """The shared extracted store: for tests that only read the policy."""
    return PolicyRoot(family["pristine"], family["type"])


@pytest.fixture
def writable_root(family, tmp_path):
    """A private copy of the family's store, for tests that change it."""
    target = str(tmp_path / "root")
    _copy_store(target, family["pristine"], family["type"])
    return PolicyRoot(target, family["type"])


def make_tree(root, paths):
    """Create directories (ending in /) and empty files under a PolicyRoot."""
    for path in paths:
        on_disk = root.path(path)
        if path.endswith("/"):
            os.makedirs(on_disk, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(on_disk), exist_ok=True)
            open(on_disk, "w").close()


def build_module(directory, name, port_type="smtp_port_t"):
    """Compile a tiny real policy module with checkmodule/semodule_package; return its .pp."""
    te = os.path.join(directory, name + ".te")
    with open(te, "w") as handle:
        handle.write("module {} 1.0;\nrequire {{ type postfix_master_t; type {}; "
                     "class tcp_socket name_bind; }}\n"
                     "allow postfix_master_t {}:tcp_socket name_bind;\n".format(
                         name, port_type, port_type))
    mod = os.path.join(directory, name + ".mod")
    pp = os.path.join(directory, name + ".pp")
    subprocess.check_call(["checkmodule", "-M", "-m", "-o", mod, te], stdout=subprocess.DEVNULL)
    subprocess.check_call(["semodule_package", "-o", pp, "-m", mod])
    return pp
