"""The built wheel carries policy_templates/ and the code finds it at run time."""

import glob
import os
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_wheel_contains_policy_templates(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), ROOT], check=True)
    wheel, = glob.glob(str(tmp_path / "postmulti_selinux-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {"postmulti_selinux/policy_templates/" + os.path.basename(p)
                for p in glob.glob(os.path.join(ROOT, "policy_templates", "*.j2"))}
    expected.add("postmulti_selinux/policy_templates/__init__.py")
    assert expected <= names, expected - names
    assert "postmulti_selinux/cli/main.py" in names


def test_templates_dir_found_at_run_time():
    from postmulti_selinux.policy_templates import templates_dir
    assert os.path.isfile(os.path.join(templates_dir(), "__init__.py"))
