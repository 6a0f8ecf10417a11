"""The fast raw-log scanner gives what the line reader gives: the same denial groups (types,
class, object, path, permissions, counts, first stamp, program), SELinux errors, out-of-scope
tallies and policy loads, on real captures and on generated logs with interleaved events,
several AVC records per event, policy loads, foreign lines, time windows and chunk boundaries
anywhere."""

import gzip
import os
import sys

import pytest
from hypothesis import example, given, settings, strategies as st

from postmulti_selinux.avc import scan
from postmulti_selinux.avc.collect import Collection
from postmulti_selinux.avc.reader import AuditReader
from postmulti_selinux.avc.triage import Scope
from tests.avc.conftest import fixture_path

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VM_CAPTURE = os.path.join(REPO, "tests", "fixtures", "vm", "scenario0_audit.log")
sys.path.insert(0, os.path.join(REPO, "bench"))
import gen_audit_log  # noqa: E402


def summary(path, fold, since_last_load=False, native=True, **window):
    """What a log says, read by the scanner (``fold``: with the native walker, or only with
    the scan pattern) or by the line reader."""
    reader = AuditReader(**window)
    collection = Collection(Scope(["httpd_t"]), since_last_load=since_last_load)
    walker = scan._fastscan
    if not native:
        scan._fastscan = None
    try:
        if fold:
            reader.collect([path], collection)
        else:
            collection.add_all(reader.read_files([path]))
    finally:
        scan._fastscan = walker
    groups = sorted((
        (g.source, g.target, g.tclass, g.result, g.path, g.path_from, g.name, g.dev, g.ino, g.port,
         tuple(sorted(g.perms)), g.count, str(g.first), g.comm, g.exe, g.permissive,
         tuple(sorted(g.capabilities)), tuple(sorted(g.ioctlcmds)))
        for g in collection.resolved_groups()), key=repr)
    errors = sorted((repr(k), n) for k, (_, n) in collection.errors.items())
    out = sorted(((k, tuple(sorted(v[0])), v[1]) for k, v in collection.out_of_scope.items()), key=repr)
    stats = reader.stats.as_dict()
    counts = dict((k, stats[k]) for k in ("lines", "records", "avc", "selinux_err", "policy_loads",
                                           "foreign", "malformed", "filtered"))
    return groups, errors, out, collection.policy_loads, counts


def assert_same(path, **kwargs):
    fast, slow = summary(path, True, **kwargs), summary(path, False, **kwargs)
    assert fast == slow
    assert summary(path, True, native=False, **kwargs) == slow
    return fast


@pytest.mark.parametrize("path", [fixture_path("seed_audit.log"), fixture_path("constructed_cases.log"),
                                  VM_CAPTURE])
def test_real_captures_read_alike(path):
    groups, _, _, _, counts = assert_same(path)
    assert groups and counts["avc"] > 0


def test_vm_capture_interleaved_records_are_joined():
    """The VM's log interleaves events (a PROCTITLE after the next event's AVC)."""
    with open(VM_CAPTURE, "rb") as handle:
        assert scan.is_raw_log(handle.read(4096))
    assert_same(VM_CAPTURE, since_last_load=True)


def test_a_multi_node_log_is_scanned_with_node_prefixes(tmp_path):
    """Without node= the scanner uses its faster pattern; the first node= line switches it over
    for good (node= lines read by the plain pattern would all go to the line reader)."""
    with open(VM_CAPTURE, "rb") as handle:
        lines = handle.read().split(b"\n")
    log = tmp_path / "audit.log"
    cut = next(i for i, line in enumerate(lines) if i > 60 and line.startswith(b"type=AVC "))
    log.write_bytes(b"\n".join(lines[:cut] + [b"node=mx " + l for l in lines[cut:] if l]) + b"\n")
    scanner = scan.RawScanner(AuditReader())
    assert scanner._event is scan._EVENT_PLAIN
    with open(str(log), "rb") as handle:
        fast = list(scanner.read(handle))
    assert scanner._event is scan._EVENT and fast
    assert_same(str(log))


def test_synthetic_benchmark_log_folds_and_reads_alike(tmp_path):
    log = str(tmp_path / "audit.log")
    gen_audit_log.generate(20000, log, seed=3)
    groups, _, out, _, counts = assert_same(log)
    assert sum(g[11] for g in groups) + sum(o[2] for o in out) == counts["avc"]
    assert max(g[11] for g in groups) > 1      # identical events were folded


def test_not_a_raw_log_goes_line_by_line(tmp_path):
    log = tmp_path / "messages"
    log.write_text(
        'Nov 14 22:13:20 mx kernel: audit: type=1400 audit(1700000000.123:43): avc:  denied  { getattr } '
        'for  pid=7 comm="qmgr" path="/x" dev="dm-0" ino=13 scontext=system_u:system_r:postfix_qmgr_t:s0 '
        'tcontext=system_u:object_r:var_t:s0 tclass=file permissive=0\n')
    assert not scan.is_raw_log(log.read_bytes())
    groups, _, _, _, _ = assert_same(str(log))
    assert groups[0][4] == "/x"


def test_gzip_rotation_uses_the_fast_path(tmp_path):
    log = str(tmp_path / "audit.log.1.gz")
    with open(fixture_path("seed_audit.log"), "rb") as src, gzip.open(log, "wb") as dst:
        dst.write(src.read())
    assert assert_same(log)[:4] == assert_same(fixture_path("seed_audit.log"))[:4]


# -- generated logs ------------------------------------------------------------------------
DOMAINS = ["postfix_master_t", "postfix_qmgr_t", "httpd_t", "sshd_t"]
TARGETS = [("postfix_spool_t", "fifo_file"), ("etc_t", "file"), ("postfix_etc_t", "dir"),
           ("port_t", "tcp_socket"), ("self", "capability")]
FILES = [("/var/spool/postfix-sub/public/pickup", 11), ("/etc/postfix-sub", 12),
         ("/var/spool/postfix-sub/public/qmgr", 13), ("/etc/x", 14)]


def _avc(stamp, domain, target, tclass, perms, obj, pid, node):
    ctx = "system_u:system_r:{0}:s0".format(domain)
    tctx = ctx if target == "self" else "system_u:object_r:{0}:s0".format(target)
    if tclass == "capability":
        what = "capability=21 "
    elif tclass == "tcp_socket":
        what = "src={} ".format(2525 + obj) if "name_bind" in perms else "dest=25 "
    elif obj % 2:
        what = 'path="{}" dev="vda1" ino={} '.format(FILES[obj][0], FILES[obj][1])
    else:
        what = 'name="{}" dev="vda1" ino={} '.format(FILES[obj][0].rsplit("/", 1)[1], FILES[obj][1])
    return ('{}type=AVC msg=audit({}): avc:  {}  {{ {} }} for  pid={} comm="{}" {}scontext={} '
            'tcontext={} tclass={} permissive=0'.format(
                node, stamp, "granted" if perms == "getattr" and obj == 3 else "denied", perms, pid,
                domain[:6], what, ctx, tctx, tclass))


def _followers(stamp, obj, items, node):
    out = ["{}type=SYSCALL msg=audit({}): arch=c000003e syscall=2 success={} exit=-13 a0=1 a1=2 a2=3 "
           "a3=0 items={} ppid=1 pid=9 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 "
           "fsgid=0 tty=(none) ses=1 comm=\"x\" exe=\"/usr/sbin/x\" subj=system_u:system_r:x:s0 "
           "key=(null)".format(node, stamp, "no" if obj % 2 else "yes", items)]
    if items:
        out.append('{}type=CWD msg=audit({}): cwd="/var/spool/postfix-sub"'.format(node, stamp))
        for i in range(items):
            path, ino = FILES[(obj + i) % len(FILES)]
            out.append('{}type=PATH msg=audit({}): item={} name="{}" inode={} dev=fe:01 mode=040755 '
                       'ouid=0 ogid=0 rdev=00:00 obj=system_u:object_r:etc_t:s0 nametype=NORMAL'.format(
                           node, stamp, i, path if i % 2 == 0 else path.rsplit("/", 1)[1], ino))
    out.append("{}type=PROCTITLE msg=audit({}): proctitle=63686F776E00726F6F74002F6574632F706F7374666978"
               "2D737562".format(node, stamp))
    out.append("{}type=EOE msg=audit({}):".format(node, stamp))
    return out


EVENT = st.tuples(
    st.sampled_from(["avc", "avc", "avc", "err", "user_avc", "load", "noise", "foreign"]),
    st.sampled_from(DOMAINS), st.sampled_from(TARGETS),
    st.sampled_from(["read", "write", "read write", "getattr", "setattr", "name_bind", "sys_chroot"]),
    st.integers(0, 3),                # object
    st.integers(0, 7),                # followers kept: 0 none .. 7 all, with EOE
    st.integers(0, 3),                # PATH items
    st.integers(1, 2),                # AVC records in the event
    st.booleans(),                    # node= prefix
    st.sampled_from(["", "", "", "sockaddr", "execve", "late", "syscall", "avc", "paths"]),  # layout
)

# Records put into an event's kernel layout (where, in the list of followers, and what): the
# fast path reads the first two itself; the others make it hand the event to the line reader.
LAYOUTS = {
    "sockaddr": (1, "type=SOCKADDR msg=audit({}): saddr=02000FA57F0000010000000000000000"),
    "execve": (1, 'type=EXECVE msg=audit({}): argc=2 a0="chown" a1="root"'),
    "late": (-1, "type=SOCKADDR msg=audit({}): saddr=01002F"),
    "syscall": (1, 'type=SYSCALL msg=audit({}): arch=c000003e syscall=4 success=yes exit=0 a0=1 '
                'items=0 ppid=1 pid=9 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 '
                'fsgid=0 tty=(none) ses=1 comm="y" exe="/usr/sbin/y" key=(null)'),
    "avc": (1, 'type=AVC msg=audit({}): avc:  denied  {{ search }} for  pid=9 comm="y" name="z" '
            'dev="vda1" ino=99 scontext=system_u:system_r:postfix_local_t:s0 '
            'tcontext=system_u:object_r:etc_t:s0 tclass=dir permissive=0'),
    "paths": (2, 'type=PATH msg=audit({}): item=7 name="/var/spool/postfix-sub/x" inode=7 dev=fe:01 '
              'mode=0100644 ouid=0 ogid=0 rdev=00:00 obj=system_u:object_r:etc_t:s0 nametype=NORMAL'),
}


def _render(events, interleave):
    """Lines of a raw log; ``interleave`` moves some follower records after the next event."""
    lines, pending = [], []
    for serial, (kind, domain, (target, tclass), perms, obj, keep, items, avcs, node, layout) in enumerate(events, 1):
        stamp = "1700000{:03d}.{:03d}:{}".format(serial // 7, serial % 1000, serial)
        prefix = "node=mx " if node else ""
        if kind == "avc":
            lines.extend(_avc(stamp, domain, target, tclass, perms, obj, 100 + serial, prefix)
                         for _ in range(avcs))
            followers = _followers(stamp, obj, items, prefix)[:keep]
            if layout and followers:
                at, record = LAYOUTS[layout]
                extra = [prefix + record.format(stamp)] * (5 if layout == "paths" else 1)
                at = len(followers) - 1 if at < 0 else min(at, len(followers))
                followers[at:at] = extra
            if interleave and serial % 3 == 0 and len(followers) > 1:
                lines.extend(followers[:1])
                pending = followers[1:]
                continue
            lines.extend(followers)
        elif kind == "err":
            lines.append('{}type=SELINUX_ERR msg=audit({}): op=security_compute_sid invalid_context='
                         '"unconfined_u:unconfined_r:{}:s0" scontext=unconfined_u:unconfined_r:unconfined_t:s0 '
                         'tcontext=system_u:object_r:postfix_master_exec_t:s0 tclass=process'.format(
                             prefix, stamp, domain))
            lines.extend(_followers(stamp, obj, 0, prefix)[:keep])
        elif kind == "user_avc":
            lines.append("{}type=USER_AVC msg=audit({}): pid=1 uid=0 auid=0 ses=1 msg='avc:  denied  "
                         "{{ {} }} for  scontext=system_u:system_r:{}:s0 tcontext=system_u:object_r:{}:s0 "
                         "tclass={} permissive=0 exe=\"/usr/bin/dbus-daemon\"'".format(
                             prefix, stamp, perms, domain, target, tclass))
        elif kind == "load":
            lines.append("{}type=MAC_POLICY_LOAD msg=audit({}): auid=0 ses=1 lsm=selinux res=1".format(prefix, stamp))
        elif kind == "noise":
            lines.append("{}type=PROCTITLE msg=audit({}): proctitle=6C73".format(prefix, stamp))
        else:
            lines.append("garbage line {}".format(serial))
        lines.extend(pending)
        pending = []
    lines.extend(pending)
    return lines


@settings(max_examples=150, deadline=None)
# An event's second AVC record after the next event's (its PROCTITLE and EOE after that): the
# scanner fed the first event's EOE before it, so it found the event closed and lost its exe.
@example(events=[("avc", "postfix_master_t", ("postfix_spool_t", "fifo_file"), "read", 0, keep, 0, 1, False, layout)
                 for keep, layout in ((0, ""), (0, ""), (3, "avc"), (0, ""))],
         interleave=True, chunk=64, since_last_load=False, window=None)
# An event of two AVC records whose CWD/PATH records come after the next event's, which has
# five PATH records: 2249 bytes from its first record to its last.
@example(events=[("avc", "postfix_master_t", ("postfix_spool_t", "fifo_file"), "read", 0, keep, items, avcs, False, layout)
                 for keep, items, avcs, layout in [(0, 0, 1, "")] * 5 + [(3, 1, 2, ""), (1, 0, 1, "paths")]],
         interleave=True, chunk=64, since_last_load=False, window=None)
@given(events=st.lists(EVENT, min_size=1, max_size=40), interleave=st.booleans(),
       chunk=st.sampled_from([64, 300, 1000, 1 << 20]), since_last_load=st.booleans(),
       window=st.sampled_from([None, (1700000002.0, None), (None, 1700000004.5)]))
def test_generated_logs_read_alike(tmp_path_factory, events, interleave, chunk, since_last_load, window):
    lines = ["type=DAEMON_START msg=audit(1699999999.000:1): op=start ver=3.0.9 format=enriched"] + \
        _render(events, interleave)
    log = tmp_path_factory.mktemp("gen") / "audit.log"
    log.write_text("\n".join(lines) + "\n")
    kwargs = {"since_last_load": since_last_load}
    if window:
        kwargs["since"], kwargs["until"] = window
    # Small chunks and a small join window (still larger than any event here, interleaved with
    # the next one: up to ~4 KB; 2048 was not, see the second example) put chunk boundaries
    # everywhere in these short logs.
    old = scan.CHUNK, scan.JOIN_WINDOW
    scan.CHUNK, scan.JOIN_WINDOW = chunk, 8192
    try:
        assert_same(str(log), **kwargs)
    finally:
        scan.CHUNK, scan.JOIN_WINDOW = old


def test_fold_limit_flushes_without_changing_the_result(tmp_path, monkeypatch):
    log = str(tmp_path / "audit.log")
    gen_audit_log.generate(5000, log, seed=5)
    whole = summary(log, True)
    monkeypatch.setattr(scan, "FOLD_LIMIT", 10)
    monkeypatch.setattr(scan, "CACHE_SIZE", 3)      # every parse cache starts over again and again
    monkeypatch.setattr(scan, "CHUNK", 4096)
    monkeypatch.setattr(scan, "JOIN_WINDOW", 4096)
    assert summary(log, True) == whole == summary(log, False)


def test_big_log_split_between_workers_reads_alike(tmp_path, monkeypatch):
    log = str(tmp_path / "audit.log")
    gen_audit_log.generate(30000, log, seed=7)
    serial = summary(log, False)
    monkeypatch.setattr(scan, "PARALLEL_MIN", 100000)
    monkeypatch.setattr(scan, "workers", lambda: 3)
    starts = scan._range_starts(log, os.path.getsize(log), 3)
    assert len(starts) == 4 and starts[0] < starts[1] < starts[2] < starts[3]
    assert summary(log, True) == serial


def test_a_failed_worker_part_is_read_by_the_parent(tmp_path, monkeypatch):
    log = str(tmp_path / "audit.log")
    gen_audit_log.generate(20000, log, seed=8)
    serial = summary(log, False)
    parent, read = os.getpid(), scan.RawScanner.read

    def read_in_parent_only(self, handle, head=b"", limit=None):
        if os.getpid() != parent:
            raise RuntimeError("worker died")
        return read(self, handle, head, limit)

    monkeypatch.setattr(scan.RawScanner, "read", read_in_parent_only)
    monkeypatch.setattr(scan, "PARALLEL_MIN", 100000)
    monkeypatch.setattr(scan, "workers", lambda: 2)
    assert summary(log, True) == serial


# -- damaged logs --------------------------------------------------------------------------
def test_lines_the_scanner_does_not_know_go_to_the_line_reader(tmp_path):
    """In a raw log: a kernel line in syslog form, a blank line, and one event whose permission
    list is damaged among identical good ones. The scanner used to skip the first two and let
    the damaged event spoil the merge of the good ones."""
    def event(serial, perms):
        stamp = "1700000000.{:03d}:{}".format(serial, serial)
        return ['type=AVC msg=audit({}): avc:  denied  {{ {} }} for  pid=9 comm="master" '
                'name="pickup" dev="vda1" ino=11 scontext=system_u:system_r:postfix_master_t:s0 '
                'tcontext=system_u:object_r:var_spool_t:s0 tclass=fifo_file permissive=0'.format(stamp, perms),
                'type=SYSCALL msg=audit({}): arch=c000003e syscall=2 success=no exit=-13 a0=1 items=1 '
                'ppid=1 pid=9 comm="master" exe="/usr/lib/postfix/sbin/master" key=(null)'.format(stamp),
                'type=PROCTITLE msg=audit({}): proctitle=6D6173746572'.format(stamp)]
    # Past the lines the format is sniffed from, so that the file is read as a raw log.
    lines = ['type=LOGIN msg=audit(1699999999.{:03d}:{}): pid=1 uid=0 res=1'.format(i, i)
             for i in range(scan.SNIFF_LINES + 1)]
    lines += event(1, "read") + event(2, "wr\x01te") + event(3, "write") + [""] + [
        'Nov 14 22:13:20 mx kernel: audit: type=1400 audit(1700000004.000:4): avc:  denied  { getattr } '
        'for  pid=7 comm="qmgr" path="/x" dev="dm-0" ino=13 scontext=system_u:system_r:postfix_qmgr_t:s0 '
        'tcontext=system_u:object_r:var_t:s0 tclass=file permissive=0']
    log = tmp_path / "audit.log"
    log.write_text("\n".join(lines) + "\n")
    with open(str(log), "rb") as handle:
        assert scan.is_raw_log(handle.read(1 << 16))
    groups, _, _, _, counts = assert_same(str(log))
    assert [(g[0], g[10], g[11]) for g in groups] == [
        ("postfix_master_t", ("read", "write"), 2), ("postfix_qmgr_t", ("getattr",), 1)]
    assert counts["lines"] == len(lines) and counts["foreign"] == 1


def test_an_event_with_a_record_after_its_proctitle_goes_to_the_line_reader(tmp_path):
    """The scan pattern once matched such an event anyway, by cutting the PROCTITLE record short
    (the check that the next line has another stamp then saw the rest of that line): the event
    counted as complete and the PATH record after it, the only one with the inode, was lost."""
    stamp = "1700000000.100:5"
    lines = ['type=AVC msg=audit({}): avc:  denied  {{ rename }} for  pid=9 comm="master" name="x" '
             'dev="vda1" ino=14 scontext=system_u:system_r:postfix_master_t:s0 '
             'tcontext=system_u:object_r:var_spool_t:s0 tclass=file permissive=0'.format(stamp),
             'type=SYSCALL msg=audit({}): arch=c000003e syscall=82 success=no exit=-13 items=2 ppid=1 '
             'pid=9 comm="master" exe="/usr/lib/postfix/sbin/master" key=(null)'.format(stamp),
             'type=PATH msg=audit({}): item=0 name="/var/spool/postfix-sub/d1/y" inode=13 '
             'dev=fe:01'.format(stamp),
             "type=PROCTITLE msg=audit({}): proctitle=6D6173746572".format(stamp),
             'type=PATH msg=audit({}): item=1 name="/var/spool/postfix-sub/d2/x" inode=14 '
             'dev=fe:01'.format(stamp)]
    log = tmp_path / "audit.log"
    log.write_text("\n".join(lines) + "\n")
    groups = assert_same(str(log))[0]
    assert [g[4] for g in groups] == ["/var/spool/postfix-sub/d2/x"]


with open(VM_CAPTURE, "rb") as _handle:
    CAPTURE_LINES = _handle.read().split(b"\n")[:120]


@settings(max_examples=100, deadline=None)
# A SYSCALL record whose exe= lost its opening quote (the scanner took exe="?").
@example(cuts=[(70, 274, b'?', False)])
@given(cuts=st.lists(st.tuples(st.integers(0, len(CAPTURE_LINES) - 1), st.integers(0, 400),
                               st.binary(max_size=12), st.booleans()), min_size=1, max_size=8))
def test_damaged_raw_logs_never_raise_and_read_alike(tmp_path_factory, cuts):
    """Lines of a real capture cut short or with bytes written over them (quotes, braces,
    newlines, NULs, invalid UTF-8): the scanner neither raises nor finds other denials, errors,
    tallies, lines or AVC records than the line reader. (Whether a damaged header counts as a
    record or a foreign line may differ: the scanner can show it to the line reader twice.)
    The scanner before it handed lines it did not know to the line reader failed this."""
    lines = list(CAPTURE_LINES)
    for index, at, junk, cut in cuts:
        line = lines[index]
        lines[index] = line[:at] + junk + (b"" if cut else line[at + len(junk):])
    log = tmp_path_factory.mktemp("damaged") / "audit.log"
    log.write_bytes(b"\n".join(lines) + b"\n")
    fast, slow = summary(str(log), True), summary(str(log), False)
    assert fast[:4] == slow[:4]         # denials, SELinux errors, out-of-scope tallies, loads
    assert fast[4]["lines"] == slow[4]["lines"] and fast[4]["avc"] == slow[4]["avc"]
    assert summary(str(log), True, native=False) == fast


def test_a_plain_file_is_read_again_from_the_tail_and_a_changed_one_joined(tmp_path):
    log = tmp_path / "audit.log"
    log.write_bytes(b"line one\nline two\nline three\n")
    with open(str(log), "rb") as handle:
        handle.read(18)
        assert scan._read_after(handle, b"line two\n", 9, 6) == b"\nline two\nline t"
        assert handle.tell() == 24
        # The tail is not what the file holds there (rewritten meanwhile): joined, read on.
        assert scan._read_after(handle, b"other\n", 18, 4) == b"\nother\nhree"
        assert handle.tell() == 28
    with gzip.open(str(tmp_path / "x.gz"), "wb") as packed:
        packed.write(b"abc\ndef\n")
    with gzip.open(str(tmp_path / "x.gz"), "rb") as handle:
        handle.read(4)
        assert scan._read_after(handle, b"abc\n", None, 10) == b"\nabc\ndef\n"
