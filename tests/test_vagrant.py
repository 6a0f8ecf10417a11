"""vagrant/ is valid and drives the same scenario scripts as the VM test bed."""

import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VAGRANT_DIR = os.path.join(ROOT, "vagrant")


needs_vagrant = pytest.mark.skipif(not shutil.which("vagrant"),
                                   reason="vagrant is not installed (make test installs it)")


def _validate(directory):
    # No provider (libvirt/VirtualBox) runs here: validate the configuration without one.
    return subprocess.run(["vagrant", "validate", "--ignore-provider"], cwd=directory,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          env=dict(os.environ, VAGRANT_CHECKPOINT_DISABLE="1"))


@needs_vagrant
def test_vagrantfile_validates():
    proc = _validate(VAGRANT_DIR)
    assert proc.returncode == 0, proc.stdout
    assert "validated successfully" in proc.stdout


@needs_vagrant
def test_validation_catches_a_broken_vagrantfile(tmp_path):
    with open(os.path.join(VAGRANT_DIR, "Vagrantfile")) as handle:
        text = handle.read().replace('el7.vm.box = "centos/7"', 'el7.vm.boxx = "centos/7"')
    (tmp_path / "Vagrantfile").write_text(text)
    for helper in ("provision-el.sh",):
        shutil.copy(os.path.join(VAGRANT_DIR, helper), str(tmp_path))
    proc = _validate(str(tmp_path))
    assert proc.returncode != 0 and "boxx" in proc.stdout, proc.stdout


def test_boxes_use_the_shared_scenarios_and_no_mirror_host():
    with open(os.path.join(VAGRANT_DIR, "run-scenario.sh")) as handle:
        assert "tests/scenarios" in handle.read()
    for name in os.listdir(VAGRANT_DIR):
        if not os.path.isfile(os.path.join(VAGRANT_DIR, name)):
            continue
        with open(os.path.join(VAGRANT_DIR, name)) as handle:
            text = handle.read()
        assert not re.search(r"https?://[a-z0-9.-]+\.(org|com|net)", text), name
