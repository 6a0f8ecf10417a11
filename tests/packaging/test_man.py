"""man/*.8 are in step with the commands' --help: regenerated into a temp dir, they must match
the committed pages byte for byte (the date on them is debian/changelog's, so it is fixed)."""

import difflib
import os
import shutil
import subprocess
import sys

import pytest

from tests.packaging.debs import ROOT

GENERATOR = os.path.join(ROOT, "man", "generate.py")
PAGES = ("postmulti-selinux.8", "secure-child.8")


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    if not shutil.which("help2man"):
        pytest.skip("help2man is not installed (make test installs it)")
    out = tmp_path_factory.mktemp("man")
    subprocess.run([sys.executable, GENERATOR, "--output-dir", str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    return out


@pytest.mark.parametrize("page", PAGES)
def test_man_page_in_step_with_help(regenerated, page):
    committed = os.path.join(ROOT, "man", page)
    with open(committed) as handle:
        old = handle.read()
    new = (regenerated / page).read_text()
    diff = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                        "man/" + page, "regenerated/" + page))
    assert old == new, ("man/{} is out of step with --help; regenerate with `make man` "
                        "(or: {} man/generate.py) and commit it.\n{}".format(
                            page, sys.executable, diff))


def test_every_subcommand_has_its_section():
    from postmulti_selinux.cli.main import main
    with open(os.path.join(ROOT, "man", "postmulti-selinux.8")) as handle:
        page = handle.read()
    for name, command in main.commands.items():
        if not getattr(command, "hidden", False):
            assert '.SS "postmulti\\-selinux {}"'.format(name) in page, name


@pytest.mark.parametrize("page", PAGES)
def test_man_page_renders_without_warnings(page):
    if not shutil.which("man"):
        pytest.skip("man is not installed")
    result = subprocess.run(["man", "--warnings", "-l", os.path.join(ROOT, "man", page)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            universal_newlines=True,
                            env=dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MANPAGER="cat"))
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
