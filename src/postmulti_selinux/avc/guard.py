"""Least-privilege guard: rules a Postfix domain must never get from a log, with the reason.

Refusals can be overridden only with an explicit flag (``allow_sensitive=True``); a rule whose
source domain is out of scope is refused always.
"""

from typing import NamedTuple, Optional, Tuple

# Types whose access would let a mail daemon read secrets or change the security policy.
SENSITIVE_TYPES = frozenset([
    "shadow_t", "security_t", "selinux_config_t", "policy_config_t", "policy_src_t",
    "default_context_t", "file_context_t", "load_policy_exec_t", "setfiles_exec_t",
    "semanage_store_t", "semanage_read_lock_t", "semanage_trans_lock_t", "semanage_exec_t",
    "auditd_log_t", "auditd_etc_t", "audit_spool_t", "memory_device_t", "kernel_t",
    "sysadm_t", "unconfined_t", "init_t", "boot_t", "modules_object_t", "krb5_keytab_t",
])
# Types that hold the system's programs and shared configuration: reading is fine, writing is not.
WRITE_PROTECTED_TYPES = frozenset(["etc_t", "bin_t", "sbin_t", "lib_t", "usr_t", "shell_exec_t",
                                   "ld_so_t", "textrel_shlib_t", "system_conf_t", "passwd_file_t"])
WRITE_PERMS = frozenset(["write", "append", "create", "unlink", "rename", "setattr", "link",
                         "add_name", "remove_name", "reparent", "rmdir", "relabelfrom",
                         "relabelto", "mounton", "swapon", "quotaon"])
SENSITIVE_PERMS = {
    "security": None,   # every permission of the security class (load_policy, setenforce, setbool …)
    "capability": frozenset(["sys_module", "sys_admin", "sys_rawio", "sys_ptrace", "mac_admin",
                             "mac_override", "sys_boot", "linux_immutable", "dac_override"]),
    "capability2": frozenset(["mac_admin", "mac_override", "syslog", "bpf", "perfmon"]),
    "cap_userns": frozenset(["sys_module", "sys_admin", "sys_rawio", "sys_ptrace", "dac_override"]),
    "process": frozenset(["execmem", "execstack", "execheap", "execmod", "ptrace", "dyntransition",
                          "setcurrent"]),
    "system": frozenset(["module_load", "module_request", "reboot", "ipc_info", "syslog_mod"]),
    "kernel_service": None,
}


class Refusal(NamedTuple):
    """A permission set the guard took out of a rule, and why."""
    perms: Tuple[str, ...]
    reason: str


def check_rule(source, target, tclass, perms, in_scope, allow_sensitive=False):
    # type: (str, str, str, frozenset, callable, bool) -> Tuple[frozenset, Optional[Refusal]]
    """Split ``perms`` into (kept perms, refusal or None)."""
    perms = frozenset(perms)
    if not in_scope(source):
        return frozenset(), Refusal(tuple(sorted(perms)),
                                    "{} is not a Postfix domain in scope; no rule is written for it".format(source))
    if allow_sensitive:
        return perms, None
    if target in SENSITIVE_TYPES:
        return frozenset(), Refusal(tuple(sorted(perms)),
                                    "{} is security-sensitive; a mail daemon must not get access to it".format(target))
    refused, why = set(), []
    if target in WRITE_PROTECTED_TYPES and perms & WRITE_PERMS:
        refused |= perms & WRITE_PERMS
        why.append("writes to {} (system files) are refused: label the file the daemon owns instead".format(target))
    if tclass in SENSITIVE_PERMS:
        bad = perms if SENSITIVE_PERMS[tclass] is None else perms & SENSITIVE_PERMS[tclass]
        if bad:
            refused |= bad
            if "dac_override" in bad:
                why.append("dac_override is refused: fix file ownership/mode; dac_read_search suffices for reading")
            others = sorted(bad - {"dac_override"})
            if others:
                why.append("{} {{ {} }} is security-sensitive".format(tclass, " ".join(others)))
    if not refused:
        return perms, None
    return perms - refused, Refusal(tuple(sorted(refused)), "; ".join(why))


def check_role(role, type_, in_scope, allow_sensitive=False):
    # type: (str, str, callable, bool) -> Optional[str]
    """Reason to refuse ``role ROLE types TYPE;`` or None."""
    if not in_scope(type_):
        return "{} is not a Postfix domain in scope; its role authorization is not changed".format(type_)
    if role == "object_r":
        return "object_r cannot be given a domain"
    return None
