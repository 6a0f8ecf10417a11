"""The native walker (_fastscan.c) reads a buffer exactly as scan.py's pattern does with
findall: the same lines for the line reader, the same events folded (same keys, counts and
first stamp and pid, in the same order), the same events left open, the same line count. The
pattern is the definition; these tests compare the two on generated record-like lines, cut
and overwritten at random, with and without node= prefixes."""

import os
import subprocess
import sys

import pytest
from hypothesis import example, given, settings, strategies as st

from postmulti_selinux.avc import scan
from postmulti_selinux.avc.reader import AuditReader
from postmulti_selinux.avc.triage import Scope

fastscan = scan._fastscan


def test_the_native_walker_is_built():
    """The test command installs a C compiler and the Python headers, so the walker must be
    there (without them the scanner falls back to the pattern, correct but slower)."""
    assert fastscan is not None, "postmulti_selinux.avc._fastscan was not built"


def by_pattern(buf, end):
    """(items, folded, newlines) as scan.py's pattern reads buf[:end]; folded as the walker's
    folder drains: [(inner key, [[perms, stamp, pid, count], …]), …] in order of first
    appearance (of the inner key, then of its permission lists)."""
    pattern = scan._EVENT if buf.find(b"\nnode=", 0, end) >= 0 else scan._EVENT_PLAIN
    items, folded = [], {}
    for match in pattern.findall(buf, 0, end):
        if match[scan._OTHER]:
            items.append((fastscan.OTHER, match[scan._OTHER]))
        elif match[scan._BLANK]:
            items.append((fastscan.BLANK, None))
        elif match[scan._LINE]:
            items.append((fastscan.LINE, (match[scan._LINE], match[scan._OTYPE], match[scan._OSTAMP])))
        else:
            key = scan._KEY(match)
            stamp, pid = match[scan._STAMP], match[scan._PID]
            if any(scan._ENDINGS(match)):
                variants = folded.setdefault(key[1:], {})
                variants.setdefault(key[0], [key[0], stamp, pid, 0])[3] += 1
            else:
                records = (2 + match[scan._MORE].count(b"\n") + match[scan._SKIPPED].count(b"\n")
                           + sum(1 for index in scan._JOINS if match[index]))
                items.append((fastscan.INCOMPLETE, (stamp, pid, records, key)))
    folded = [(inner, list(variants.values())) for inner, variants in folded.items()]
    return items, folded, buf.count(b"\n", 0, end)


def by_walker(buf, end, seed=1):
    items, newlines, position, node = [], 0, 0, False
    folder = fastscan.Folder(seed)
    while True:
        kind, position, count, payload = fastscan.walk(buf, position, end, node, folder)
        newlines += count
        if kind == fastscan.DONE:
            return items, folder.drain(), newlines
        if kind == fastscan.SWITCH:
            assert not node
            node = True
        else:
            items.append((kind, payload))


def assert_alike(lines, end_cut=0):
    buf = b"\n" + b"\n".join(lines) + b"\n"
    end = max(1, len(buf) - end_cut)
    assert by_walker(buf, end) == by_pattern(buf, end)


STAMP = "1700000001.250:77"
OTHER_STAMP = "1700000001.250:78"
AVC = ('type=AVC msg=audit({s}): avc:  denied  {{ read write }} for  pid=4242 comm="smtpd" '
       'name="cleanup" dev="vda1" ino=11 scontext=system_u:system_r:postfix_smtpd_t:s0 '
       'tcontext=system_u:object_r:postfix_spool_t:s0 tclass=fifo_file permissive=0')
SYSCALL = ('type=SYSCALL msg=audit({s}): arch=c000003e syscall=2 success=no exit=-13 a0=7f a1=2 '
           'items=1 ppid=1 pid=4242 auid=4294967295 uid=0 comm="smtpd" exe="/usr/lib/postfix/sbin/smtpd" '
           'subj=system_u:system_r:postfix_smtpd_t:s0 key=(null)')
RECORDS = [
    AVC,
    AVC.replace("denied", "granted").replace("read write", "getattr"),
    AVC.replace("{ read write }", "{  }"), AVC.replace("pid=4242", "pid=12345678901"),
    AVC.replace(" for  pid", " for pid"),
    SYSCALL,
    SYSCALL.replace("success=no", "per=400000 success=yes"),
    SYSCALL.replace('comm="smtpd" exe="/usr/lib/postfix/sbin/smtpd"', "comm=736D747064 exe=(null)"),
    SYSCALL.replace('exe="/usr/lib/postfix/sbin/smtpd"', "exe=?"),
    SYSCALL.replace('exe="/usr/lib/postfix/sbin/smtpd"', 'exe=?/usr/bin/x"'),
    SYSCALL.replace("key=(null)", 'key=(null) comm="late" exe="/late"'),
    SYSCALL.replace("arch=c000003e", "arch=C000003E"),
    'type=CWD msg=audit({s}): cwd="/var/spool/postfix-sub"',
    'type=CWD msg=audit({s}):cwd="/x"',
    'type=PATH msg=audit({s}): item=0 name="/var/spool/postfix-sub/public/cleanup" inode=11 dev=fe:01',
    'type=PATH msg=audit({s}): item=1 name="cleanup" inode=11',
    'type=PROCTITLE msg=audit({s}): proctitle=736D74706400',
    'type=EOE msg=audit({s}):', 'type=EOE msg=audit({s})',
    'type=SOCKADDR msg=audit({s}): saddr=0100',
    'type=EXECVE msg=audit({s}): argc=1 a0="x"',
    'type=X25 msg=audit({s}): x=1',
    'type=' + 'A' * 33 + ' msg=audit({s}): x=1',
    'type=USER_AVC msg=audit({s}): pid=1 uid=0 msg=\'avc:  denied  {{ send_msg }}\'',
    'type=SELINUX_ERR msg=audit({s}): op=security_compute_sid invalid_context="a:b:c:s0"',
    'type=MAC_POLICY_LOAD msg=audit({s}): auid=0 ses=1 lsm=selinux res=1',
    'type=USER_ACCT msg=audit({s}): pid=1 uid=0 res=success',
    'type=LOGIN msg=audit(' + '9' * 70 + '): x',
    '', 'garbage {s}', 'Nov 14 22:13:20 mx kernel: audit: type=1400 audit({s}): avc:  denied',
]
PREFIXES = ["", "", "", "node=mx ", "node= ", "node=" + "n" * 300 + " ", "node=mx"]


def _line(template, stamp, prefix):
    return (prefix + template.format(s=stamp)).encode()


LINE = st.tuples(st.sampled_from(RECORDS), st.sampled_from([STAMP, STAMP, STAMP, OTHER_STAMP]),
                 st.sampled_from(PREFIXES))
EVENT = st.lists(LINE, min_size=1, max_size=12)


@settings(max_examples=400, deadline=None)
@given(lines=st.lists(LINE, min_size=1, max_size=60), end_cut=st.integers(0, 40))
def test_record_soup_reads_alike(lines, end_cut):
    assert_alike([_line(*line) for line in lines], end_cut)


def _event(stamp, prefix, layout):
    """An event in the kernel's layout with some records left out or doubled."""
    records = [AVC, AVC, SYSCALL, 'type=SOCKADDR msg=audit({s}): saddr=0100',
               'type=CWD msg=audit({s}): cwd="/"'] + \
        ['type=PATH msg=audit({s}): item=0 name="/a" inode=11'] * 5 + \
        ['type=PROCTITLE msg=audit({s}): proctitle=736D74706400', 'type=EOE msg=audit({s}):']
    return [_line(r, stamp, prefix) for r, keep in zip(records, layout) if keep]


@settings(max_examples=400, deadline=None)
@given(events=st.lists(st.tuples(st.sampled_from(PREFIXES[:4]),
                                 st.lists(st.booleans(), min_size=12, max_size=12)), min_size=1, max_size=20),
       damage=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 400), st.binary(max_size=8)), max_size=6))
@example(events=[("", [True] * 12)], damage=[])
def test_damaged_events_read_alike(events, damage):
    lines = []
    for serial, (prefix, layout) in enumerate(events):
        lines.extend(_event("1700000000.{:03d}:{}".format(serial, serial), prefix, layout))
    for index, at, junk in damage:
        if lines:
            line = lines[index % len(lines)]
            lines[index % len(lines)] = line[:at] + junk + line[at + len(junk):]
    assert_alike(lines)


def test_a_real_capture_reads_alike():
    path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "vm", "scenario0_audit.log")
    with open(path, "rb") as handle:
        assert_alike(handle.read().split(b"\n"))


def test_the_folder_counts_what_it_is_given_whatever_its_seed():
    key = (b" read ", b"denied", b"rest", b"", b"no", b'"x"', b'"/x"', b"", b"", b"", b"", b"", b" t", b"")
    other = (b" write ",) + key[1:]
    third = key[:2] + (b"other rest",) + key[3:]
    for seed in (0, 1, 2 ** 64 - 1):
        folder = fastscan.Folder(seed)
        for stamp, k in enumerate([key, other, key, third] * 3000):
            folder.add(str(stamp).encode(), b"9", k)
        assert len(folder) == 2
        assert folder.drain() == [(key[1:], [[b" read ", b"0", b"9", 6000], [b" write ", b"1", b"9", 3000]]),
                                  (third[1:], [[b" read ", b"3", b"9", 3000]])]
        assert len(folder) == 0 and folder.drain() == []
    with pytest.raises(ValueError):
        fastscan.Folder(1).add(b"1", b"2", key[:3])


def test_the_folder_grows_past_its_first_table():
    folder = fastscan.Folder(7)
    keys = [(b" read ", b"denied", str(i).encode()) + (b"",) * 11 for i in range(5000)]
    for key in keys + keys:
        folder.add(b"s", b"p", key)
    drained = folder.drain()
    assert [inner for inner, _ in drained] == [key[1:] for key in keys]
    assert all(variants == [[b" read ", b"s", b"p", 2]] for _, variants in drained)


@pytest.mark.parametrize("native", [True, False])
def test_the_scanner_says_which_walker_it_uses(native):
    scanner = scan.RawScanner(AuditReader(), Scope(()), native=native)
    assert scanner.native is native
    assert not scan.RawScanner(AuditReader(since=1.0), Scope(()), native=True).native


def test_the_native_walker_can_be_ruled_out_from_the_environment():
    code = "from postmulti_selinux.avc import scan; print(scan._fastscan is None)"
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, POSTMULTI_SELINUX_NATIVE="0"),
                         stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    assert out.strip() == "True"
