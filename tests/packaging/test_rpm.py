"""rpm/postmulti-selinux.spec: it parses for EL7, EL8 and EL9 (and with %rhel undefined, as on
Fedora), EL7's Requires name no Python 3 semanage/setools binding, and rpmbuild -bb builds the
noarch RPM here with the files the .deb has."""

import glob
import os
import shutil
import subprocess

import pytest

from postmulti_selinux import __version__
from tests.packaging.debs import ROOT
from tests.packaging.rpms import build_rpm, rpmspec, spec_version

# EL8/EL9 (and Fedora) names; EL7 differs as EL7_REQUIRES says.
EL_REQUIRES = {"python3-libselinux", "python3-libsemanage", "python3-setools",
               "policycoreutils-python-utils", "checkpolicy", "python3-click", "python3-jinja2"}
EL7_REQUIRES = {"libselinux-python3", "policycoreutils-python", "checkpolicy"}
# EL7 has neither binding for Python 3: the tool falls back to semanage/semodule and audit2why.
EL7_ABSENT = {"python3-libsemanage", "python3-setools", "libsemanage-python3",
              "python3-libselinux", "policycoreutils-python-utils"}


@pytest.fixture(autouse=True)
def _rpm_tools():
    for tool in ("rpmspec", "rpmbuild"):
        if not shutil.which(tool):
            pytest.skip("{} is not installed (apt package rpm; make test installs it)".format(tool))


def _requires(rhel):
    return set(rpmspec(["-q", "--requires"], rhel).split())


@pytest.mark.parametrize("rhel", [None, 7, 8, 9])
def test_rpmspec_parses(rhel):
    parsed = rpmspec(["-P"], rhel)
    assert "BuildArch:      noarch" in parsed
    assert "export POSTMULTI_SELINUX_PURE=1" in parsed


def test_spec_version_is_the_package_version():
    assert spec_version() == __version__


@pytest.mark.parametrize("rhel", [None, 8, 9])
def test_el8_el9_requires(rhel):
    requires = _requires(rhel)
    assert EL_REQUIRES <= requires, EL_REQUIRES - requires


def test_el7_requires_no_python3_semanage_or_setools():
    requires = _requires(7)
    assert EL7_REQUIRES <= requires, EL7_REQUIRES - requires
    assert not requires & EL7_ABSENT, requires & EL7_ABSENT
    assert not {r for r in requires if "semanage" in r or r == "python3-setools"}, requires
    assert "setools-console" in requires  # sesearch/seinfo: the policy questions on EL7
    assert _requires(7) != _requires(9)


def test_el7_has_no_weak_dependencies():
    """EL7's rpm 4.11 knows no Recommends/Suggests."""
    parsed = rpmspec(["-P"], 7)
    assert "Recommends:" not in parsed and "Suggests:" not in parsed


@pytest.fixture(scope="module")
def rpm(tmp_path_factory):
    if not shutil.which("rpmbuild"):
        pytest.skip("rpmbuild is not installed (apt package rpm; make test installs it)")
    return build_rpm(str(tmp_path_factory.mktemp("rpm")))


def test_rpmbuild_noarch(rpm):
    assert os.path.basename(rpm) == "postmulti-selinux-{}-1.noarch.rpm".format(__version__)


def test_rpm_files(rpm):
    files = set(subprocess.run(["rpm", "-qlp", rpm], stdout=subprocess.PIPE, check=True,
                               universal_newlines=True).stdout.split())
    site = "/usr/lib/python3/dist-packages"  # the host's python3_sitelib given to rpmbuild
    expected = {"/usr/bin/secure-child", "/usr/bin/postmulti-selinux",
                "/usr/share/man/man8/secure-child.8.gz",
                "/usr/share/man/man8/postmulti-selinux.8.gz",
                "/usr/share/bash-completion/completions/postmulti-selinux",
                "/usr/share/bash-completion/completions/secure-child",
                site + "/postmulti_selinux/cli/main.py"}
    expected |= {site + "/postmulti_selinux/policy_templates/" + os.path.basename(p)
                 for p in glob.glob(os.path.join(ROOT, "policy_templates", "*.j2"))}
    assert expected <= files, expected - files
    assert not [f for f in files if "_fastscan" in f]
