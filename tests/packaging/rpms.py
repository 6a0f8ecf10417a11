"""rpm/postmulti-selinux.spec on this (Debian) host: parse it, and build the noarch RPM.

    python3 -m tests.packaging.rpms [OUTDIR]

rpmbuild works here with --nodeps (the EL build requirements are not Debian packages) and a
few macros given on the command line that EL's python3-rpm-macros would define: the Python 3
interpreter and its site directory, %py3_build and %py3_install (as on EL, setup.py build /
install, with Debian's install locations spelled out: Debian's setuptools would otherwise pick
/usr/local), and brp-compress run by bash (Debian's rpm starts it with /bin/sh, dash, which
lacks its `read -d`). The source tarball is made from the same files as the .deb build
(tests/packaging/debs.py).
"""

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

from tests.packaging.debs import BUILD_PATH, ROOT, tree_files

SPEC = os.path.join(ROOT, "rpm", "postmulti-selinux.spec")
HOST_MACROS = {
    "__python3": "/usr/bin/python3",
    "python3_sitelib": "/usr/lib/python3/dist-packages",
    "py3_build": "%{__python3} setup.py build",
    "py3_install": "%{__python3} setup.py install -O1 --skip-build --root %{buildroot} "
                   "--install-lib %{python3_sitelib} --install-scripts %{_bindir}",
    "__brp_compress": "/bin/bash %{_rpmconfigdir}/brp-compress %{?_prefix}",
}


def _defines(macros):
    # type: (dict) -> list
    argv = []
    for name, value in sorted(macros.items()):
        argv += ["--define", "{} {}".format(name, value)]
    return argv


def rpmspec(args, rhel=None):
    # type: (list, object) -> str
    """Output of rpmspec ARGS on the spec, with %rhel defined as given (None: undefined)."""
    argv = ["rpmspec"] + (["--define", "rhel {}".format(rhel)] if rhel else []) + args + [SPEC]
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True,
                          universal_newlines=True).stdout


def spec_version():
    # type: () -> str
    return rpmspec(["-q", "--srpm", "--queryformat", "%{version}"])


def make_tarball(dest_dir):
    # type: (str) -> str
    """SOURCES tarball NAME-VERSION.tar.gz of the working tree (the .deb build's file set)."""
    top = "postmulti-selinux-" + spec_version()
    path = os.path.join(dest_dir, top + ".tar.gz")
    with tarfile.open(path, "w:gz") as tar:
        for rel in tree_files():
            tar.add(os.path.join(ROOT, rel), arcname=top + "/" + rel, recursive=False)
    return path


def build_rpm(outdir):
    # type: (str) -> str
    """rpmbuild -bb in a temp _topdir; the noarch RPM copied into outdir. Returns its path."""
    top = tempfile.mkdtemp(prefix="pms-rpm-")
    try:
        os.mkdir(os.path.join(top, "SOURCES"))
        make_tarball(os.path.join(top, "SOURCES"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env.update(PATH=BUILD_PATH, LC_ALL="C.UTF-8", HOME=top)
        argv = (["nice", "-n", "10", "rpmbuild", "-bb", "--nodeps", "--define", "_topdir " + top]
                + _defines(HOST_MACROS) + [SPEC])
        result = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True)
        if result.returncode != 0:
            raise RuntimeError("rpmbuild failed ({}):\n{}".format(result.returncode,
                                                                  result.stdout[-6000:]))
        rpm_dir = os.path.join(top, "RPMS", "noarch")
        rpm, = os.listdir(rpm_dir)
        os.makedirs(outdir, exist_ok=True)
        shutil.copy(os.path.join(rpm_dir, rpm), outdir)
        return os.path.join(outdir, rpm)
    finally:
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    print(build_rpm(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "dist")))
