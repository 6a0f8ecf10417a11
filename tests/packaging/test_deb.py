"""The Debian package: it builds from a copy of the tree, lintian finds no errors, and it holds
the commands, the package with its policy templates, the man pages and the completion."""

import glob
import os
import re
import shutil
import subprocess
import sys
import warnings

import pytest

from postmulti_selinux import __version__
from tests.packaging.debs import BUILD_PATH, ROOT, build_deb, missing_tools

SITE = "/usr/lib/python3/dist-packages"
DEPENDS = ("python3-selinux", "python3-semanage", "python3-setools", "policycoreutils",
           "semodule-utils", "checkpolicy", "python3-click", "python3-jinja2")


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    missing = missing_tools()
    if missing:
        pytest.skip("cannot build the .deb, not installed: {} (make test installs them)".format(
            ", ".join(missing)))
    return build_deb(str(tmp_path_factory.mktemp("deb")))


def _dpkg_deb(*args):
    return subprocess.run(["dpkg-deb"] + list(args), stdout=subprocess.PIPE, check=True,
                          universal_newlines=True).stdout


@pytest.fixture(scope="module")
def contents(deb):
    """{path: link target or ''} of the .deb's data."""
    found = {}
    for line in _dpkg_deb("--contents", deb).splitlines():
        name = line.split(None, 5)[5]
        path, _, target = name.partition(" -> ")
        found[path[1:].rstrip("/") or "/"] = target
    return found


def test_changelog_version_is_the_package_version():
    with open(os.path.join(ROOT, "debian", "changelog")) as handle:
        first = handle.readline()
    assert re.match(r"postmulti-selinux \(([^)]+)\)", first).group(1) == __version__


def test_deb_name_and_fields(deb):
    assert os.path.basename(deb) == "postmulti-selinux_{}_all.deb".format(__version__)
    assert _dpkg_deb("--field", deb, "Architecture").strip() == "all"
    assert _dpkg_deb("--field", deb, "Version").strip() == __version__


def test_depends_line(deb):
    depends = {re.split(r"[ (]", item.strip())[0]
               for item in _dpkg_deb("--field", deb, "Depends").split(",")}
    assert set(DEPENDS) <= depends, set(DEPENDS) - depends
    assert any(item.startswith("python3") and ":any" in item or item == "python3"
               for item in depends), depends  # ${python3:Depends}
    assert "postfix" in _dpkg_deb("--field", deb, "Recommends")


def test_entry_points_man_pages_and_completion(contents):
    for path in ("/usr/bin/secure-child", "/usr/bin/postmulti-selinux",
                 "/usr/share/man/man8/secure-child.8.gz",
                 "/usr/share/man/man8/postmulti-selinux.8.gz",
                 "/usr/share/bash-completion/completions/postmulti-selinux",
                 "/usr/share/bash-completion/completions/secure-child",
                 "/usr/share/doc/postmulti-selinux/copyright"):
        assert path in contents, path
    assert contents["/usr/share/bash-completion/completions/secure-child"] == "postmulti-selinux"


def test_policy_templates_inside_the_installed_package(contents):
    templates = glob.glob(os.path.join(ROOT, "policy_templates", "*.j2"))
    assert templates
    for template in templates + [os.path.join(ROOT, "policy_templates", "__init__.py")]:
        path = "{}/postmulti_selinux/policy_templates/{}".format(SITE, os.path.basename(template))
        assert path in contents, path
    assert "{}/postmulti_selinux/cli/main.py".format(SITE) in contents


def test_pure_python_no_native_walker(contents):
    native = [p for p in contents if "_fastscan" in p]
    assert not native, native


def test_installed_tree_runs(deb, tmp_path):
    """The unpacked package's own modules answer --version and find their templates."""
    subprocess.run(["dpkg-deb", "-x", deb, str(tmp_path)], check=True)
    site = str(tmp_path) + SITE
    code = ("import sys; sys.path.insert(0, {!r}); import postmulti_selinux; "
            "from postmulti_selinux.policy_templates import templates_dir; "
            "assert postmulti_selinux.__file__.startswith({!r}), postmulti_selinux.__file__; "
            "assert templates_dir().startswith({!r}); "
            "from postmulti_selinux.cli.main import main; main(['--version'])").format(
                site, site, site)
    result = subprocess.run([sys.executable, "-c", code],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "postmulti-selinux, version " + __version__
    script = (tmp_path / "usr" / "bin" / "secure-child").read_text()
    assert re.match(r"#! ?/usr/bin/python3\n", script), script.splitlines()[0]


def test_lintian_no_errors(deb):
    if not shutil.which("lintian", path=BUILD_PATH):
        pytest.skip("lintian is not installed (make test installs it)")
    result = subprocess.run(["nice", "-n", "10", "lintian", "--info", "--display-info", deb],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, env=dict(os.environ, PATH=BUILD_PATH))
    tags = [line for line in result.stdout.splitlines() if re.match(r"[EWIPX]: ", line)]
    errors = [line for line in tags if line.startswith("E: ")]
    assert not errors, "lintian errors:\n" + "\n".join(errors)
    assert result.returncode == 0, result.stdout + result.stderr
    others = [line for line in tags if not line.startswith("I: ")]
    if others:
        warnings.warn("lintian: " + "; ".join(others))
