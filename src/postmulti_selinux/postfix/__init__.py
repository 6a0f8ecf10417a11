"""The Postfix side: read instances through postconf/postmulti, change them, check them.

Entry points for the other parts::

    host = discover("/etc/postfix")          # Host(parent, children, mail_version, ...)
    child = host.child("postfix-sub")        # Instance(name, config_directory, ..., listeners)
    mgr = Manager("/etc/postfix")            # create/enable/set_listener/... -> Change
    undo(change)                             # byte-identical revert of a Change
    findings = preflight(host, "postfix-sub")  # [Finding(code, severity, instance, message, hint)]
"""

from postmulti_selinux.postfix.discover import discover, instance_running, postmulti_list
from postmulti_selinux.postfix.files import Change, FileEdit
from postmulti_selinux.postfix.manage import Manager, check_name, name_problem, undo
from postmulti_selinux.postfix.model import Host, Instance, Listener, MasterEntry
from postmulti_selinux.postfix.tools import DEFAULT_CONFIG_DIR, Postfix

__all__ = ["discover", "instance_running", "postmulti_list", "Change", "FileEdit", "Manager",
           "check_name", "name_problem", "undo", "Host", "Instance", "Listener", "MasterEntry",
           "DEFAULT_CONFIG_DIR", "Postfix"]
