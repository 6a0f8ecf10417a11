"""After a restart: still enforcing, the child's master in postfix_master_t, its listeners
answering SMTP and accepting a recipient, and no new Postfix AVC/SELINUX_ERR records."""

import os
import smtplib
import socket
import time
import typing

from postmulti_selinux.avc.reader import AuditReader, expand_rotated
from postmulti_selinux.avc.records import Denial

Check = typing.NamedTuple("Check", [("name", str), ("ok", bool), ("detail", str)])
AUDIT_LOG = "/var/log/audit/audit.log"
MASTER_DOMAIN = "postfix_master_t"


def master_pid(queue_directory):
    # type: (str) -> typing.Optional[int]
    try:
        with open(os.path.join(queue_directory, "pid", "master.pid")) as handle:
            pid = int(handle.read().split()[0])
    except (IOError, OSError, ValueError, IndexError):
        return None
    return pid if os.path.exists("/proc/{}".format(pid)) else None


def process_context(pid):
    # type: (int) -> str
    try:
        with open("/proc/{}/attr/current".format(pid)) as handle:
            return handle.read().strip("\0\n ")
    except (IOError, OSError):
        return ""


def smtp_probe(address, port, helo="postmulti-selinux.invalid", recipient=None, timeout=15):
    # type: (str, int, str, typing.Optional[str], int) -> typing.Tuple[bool, str]
    """Connect, expect a 2xx greeting, EHLO, and (with ``recipient``) MAIL/RCPT then RSET."""
    host = "127.0.0.1" if address in ("*", "0.0.0.0", "") else address.strip("[]")
    if host == "::":
        host = "::1"
    try:
        client = smtplib.SMTP(timeout=timeout)
        code, banner = client.connect(host, port)
        if not 200 <= code < 300:
            return False, "greeting {} {}".format(code, banner.decode(errors="replace"))
        code, _ = client.ehlo(helo)
        if code != 250:
            return False, "EHLO answered {}".format(code)
        detail = "greeting {}, EHLO 250".format(code)
        if recipient:
            code, text = client.mail("")
            rcode, rtext = client.rcpt(recipient) if code == 250 else (code, text)
            client.rset()
            if rcode not in (250, 251):
                return False, "RCPT TO:<{}> answered {} {}".format(
                    recipient, rcode, rtext.decode(errors="replace"))
            detail += ", RCPT <{}> {}".format(recipient, rcode)
        client.quit()
        return True, detail
    except (OSError, smtplib.SMTPException, socket.error) as exc:
        return False, "{}: {}".format(type(exc).__name__, exc)


def postfix_denials(since, audit_log=AUDIT_LOG, until=None):
    # type: (float, str, typing.Optional[float]) -> list
    """AVC denials and SELINUX_ERR records of Postfix domains at or after ``since``."""
    if not os.path.exists(audit_log):
        return []
    reader = AuditReader(since=since, until=until)
    found = []
    for item in reader.read_files(expand_rotated(audit_log)):
        if isinstance(item, Denial) and item.result == "granted":
            continue
        contexts = [getattr(item, name, None) for name in ("scontext", "invalid_context")]
        if any(c is not None and c.type.startswith("postfix_") for c in contexts):
            found.append(item)
    return found


def _tuples(denial):
    # type: (Denial) -> typing.Set[typing.Tuple[str, str, str, str]]
    return set((denial.scontext.type, denial.tcontext.type, denial.tclass, perm)
               for perm in denial.perms)


def _names_under(denial, trees):
    # type: (Denial, typing.Sequence[str]) -> bool
    path = denial.path or ""
    return any(path == top or path.startswith(top.rstrip("/") + "/") for top in trees)


class Baseline(object):
    """The Postfix denials the host raised before ``since`` that are not a child's: records
    naming no path in any child's trees (e.g. the EL7-era policy denies the parent's own
    postfix-script ``find`` and master ``capability dac_read_search``, with no child at all).
    A later denial made only of those (source, target, class, permission) is pre-existing:
    reported, but not counted against the child."""

    def __init__(self, since, child_trees, audit_log=AUDIT_LOG, items=None):
        # type: (float, typing.Sequence[str], str, typing.Optional[list]) -> None
        self.known = set()  # type: typing.Set[typing.Tuple[str, str, str, str]]
        if items is None:
            items = postfix_denials(0, audit_log, until=since)
        for item in items:
            if isinstance(item, Denial) and _before(item, since) and \
                    not _names_under(item, child_trees):
                self.known |= _tuples(item)

    def pre_existing(self, item):
        # type: (object) -> bool
        return isinstance(item, Denial) and self.covers(
            item.scontext.type, item.tcontext.type, item.tclass, item.perms)

    def covers(self, source, target, tclass, perms):
        # type: (str, str, str, typing.Iterable[str]) -> bool
        """Whether an explained denial (source/target types, class, permissions) is
        pre-existing: the self-heal never writes a rule for the host's own denials."""
        wanted = set((source, target, tclass, perm) for perm in perms)
        return bool(wanted) and wanted <= self.known


def _before(item, until):
    # type: (object, float) -> bool
    """In the reader's window up to ``until`` (records without a time count, as there)."""
    when = item.stamp.time
    return when is None or when <= until


def split_denials(since, child_trees, audit_log=AUDIT_LOG):
    # type: (float, typing.Sequence[str], str) -> typing.Tuple[list, list]
    """(new, pre_existing) Postfix denials at or after ``since`` (see Baseline); the audit log
    is read once for both."""
    everything = postfix_denials(0, audit_log)
    baseline = Baseline(since, child_trees, items=everything)
    new, old = [], []
    for item in everything:
        if item.stamp.time is not None and item.stamp.time < since:
            continue
        (old if baseline.pre_existing(item) else new).append(item)
    return new, old


def denial_check(since, child_trees, what="since the restart", audit_log=AUDIT_LOG):
    # type: (float, typing.Sequence[str], str, str) -> Check
    new, old = split_denials(since, child_trees, audit_log)
    detail = "{} new Postfix AVC/SELINUX_ERR record(s) {}".format(len(new), what)
    if old:
        detail += "; {} pre-existing (the host raised them without the child: {})".format(
            len(old), ", ".join(sorted(set("{} {} {} {}".format(*t) for d in old
                                           for t in _tuples(d)))[:3]))
    return Check("avc", not new, detail)


def child_trees(child):
    # type: (typing.Any) -> typing.List[str]
    return [d for d in (child.config_directory, child.queue_directory, child.data_directory) if d]


def verify_child(child, selinux_state_fn, since, recipient=None, settle=20.0):
    # type: (typing.Any, typing.Callable, float, typing.Optional[str], float) -> typing.List[Check]
    """Run every check for one child; listeners are retried for up to ``settle`` seconds."""
    state = selinux_state_fn()
    checks = [Check("enforcing", state.enforcing,
                    "SELinux is {}".format("enforcing" if state.enforcing else
                                           "NOT enforcing" if state.enabled else "disabled"))]
    return checks + live_checks(child, since, recipient, settle)


def live_checks(child, since, recipient=None, settle=0.0, what="since the restart"):
    # type: (typing.Any, float, typing.Optional[str], float, str) -> typing.List[Check]
    """The running child, as secure's verification and ``check`` both probe it: its master's
    domain, every listener answering SMTP, and no new Postfix denials since ``since``."""
    checks = []
    deadline = time.time() + settle
    pid = master_pid(child.queue_directory)
    while pid is None and time.time() < deadline:
        time.sleep(0.5)
        pid = master_pid(child.queue_directory)
    if pid is None:
        checks.append(Check("master", False, "{}: no running master (pid file under {})".format(
            child.label, child.queue_directory)))
    else:
        context = process_context(pid)
        checks.append(Check("master", context.split(":")[2:3] == [MASTER_DOMAIN],
                            "{}: master pid {} runs in {}".format(child.label, pid, context)))
    for listener in child.listeners:
        ok, detail = False, ""
        while True:
            ok, detail = smtp_probe(listener.address, listener.port, recipient=recipient)
            if ok or time.time() >= deadline:
                break
            time.sleep(0.5)
        checks.append(Check("listener {}:{}".format(listener.address, listener.port), ok, detail))
    if not child.listeners:
        checks.append(Check("listeners", False, "{} has no inet listener".format(child.label)))
    checks.append(denial_check(since, child_trees(child), what))
    return checks


def label_check(policy_root, pairs):
    # type: (typing.Any, typing.List[typing.Tuple[str, str]]) -> Check
    """The child's trees labeled like the parent's (the one rule: plan.actions.wrong_labels)."""
    from postmulti_selinux.plan.actions import wrong_labels
    wrong = wrong_labels(policy_root, pairs)
    return Check("labels", not wrong, "{} path(s) not labeled like the parent's, e.g. {} {} "
                 "(parent's: {})".format(len(wrong), wrong[0].path, wrong[0].current,
                                         wrong[0].expected) if wrong else
                 "child trees labeled like the parent's")
