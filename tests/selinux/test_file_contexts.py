"""A file_contexts that libselinux cannot parse is one ToolError, never a NULL handle (a lookup
on it crashes the process)."""

import os
import subprocess
import sys

PROBE = """
import sys
from postmulti_selinux.errors import ToolError
from postmulti_selinux.selinux.labels import FileContexts
from postmulti_selinux.selinux.policy_root import PolicyRoot
try:
    FileContexts(PolicyRoot(sys.argv[1])).lookup("/etc", 0o40000)
except ToolError as exc:
    print(exc)
"""


def test_an_unparsable_file_contexts_is_one_error(tmp_path):
    files = tmp_path / "etc/selinux/default/contexts/files"
    files.mkdir(parents=True)
    (tmp_path / "etc/selinux/default/policy").mkdir()
    (tmp_path / "etc/selinux/config").write_text("SELINUX=enforcing\nSELINUXTYPE=default\n")
    (files / "file_contexts").write_text("onlyonefield\n")
    proc = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60,
                          env=dict(os.environ))
    assert proc.returncode == 0, (proc.returncode, proc.stderr)  # -11: the old segfault
    assert proc.stdout.startswith("cannot load file contexts "), proc.stdout
    assert proc.stdout.strip().endswith("not a file_contexts file")
