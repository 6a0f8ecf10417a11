"""The reader: formats, event joining, filters, rotated logs; nothing it reads can crash it."""

import gzip
import os

import pytest
from hypothesis import given, settings, strategies as st

from postmulti_selinux.avc.reader import AuditReader, expand_rotated, parse_since, parse_stamp
from postmulti_selinux.avc.records import Denial, PolicyLoad, SelinuxError
from postmulti_selinux.errors import ToolError
from tests.avc.conftest import SEED, fixture_path
from tests.avc.fixtures.extract_seed import audit_lines

AVC = ('type=AVC msg=audit(1700000000.123:42): avc:  denied  { read write } for  pid=7 comm="qmgr" '
       'path="/var/spool/postfix-sub/public/qmgr" dev="dm-0" ino=12 '
       'scontext=system_u:system_r:postfix_qmgr_t:s0 tcontext=system_u:object_r:postfix_spool_t:s0 '
       'tclass=fifo_file permissive=1')


def read(lines, **kwargs):
    reader = AuditReader(**kwargs)
    return list(reader.read_lines(lines)), reader.stats


def test_fixture_is_the_seed_text_verbatim():
    if not os.path.exists(SEED):
        pytest.skip("seed document not present (../shared is absent)")
    with open(fixture_path("seed_audit.log"), encoding="utf-8") as handle:
        assert handle.readlines() == audit_lines(SEED)


def test_seed_records_join_syscall_and_resolve_fields():
    with open(fixture_path("seed_audit.log"), encoding="utf-8") as handle:
        items, stats = read(handle)
    assert stats.avc == 12 and stats.malformed == 0 and stats.foreign == 0
    first = items[0]
    assert first.perms == ("unlink",) and first.name == "pickup" and first.ino == 259254
    assert first.exe == "/usr/libexec/postfix/master" and first.success is True
    assert first.permissive is None          # CentOS 7.2 kernels did not print permissive=
    # serial 58 holds two AVC records (read write / open) joined to one SYSCALL
    serial58 = [d for d in items if d.stamp.serial == 58]
    assert [d.perms for d in serial58] == [("read", "write"), ("open",)]


def test_path_from_path_and_cwd_records():
    lines = [
        'type=AVC msg=audit(1700000001.000:7): avc:  denied  { setattr } for  pid=1 comm="postfix" '
        'name="postfix-sub" dev="vda1" ino=1311 scontext=system_u:system_r:postfix_master_t:s0 '
        'tcontext=system_u:object_r:postfix_etc_t:s0 tclass=dir permissive=0',
        'type=SYSCALL msg=audit(1700000001.000:7): arch=c000003e syscall=260 success=no exit=-13 '
        'comm="postfix" exe="/usr/sbin/postfix" key=(null)',
        'type=CWD msg=audit(1700000001.000:7): cwd="/etc"',
        'type=PATH msg=audit(1700000001.000:7): item=0 name="postfix-sub" inode=1311 dev=fe:01',
        'type=EOE msg=audit(1700000001.000:7):',
    ]
    (denial,), _ = read(lines)
    assert denial.path == "/etc/postfix-sub" and denial.permissive is False and denial.success is False


def test_interpreted_syslog_and_journal_forms():
    lines = [
        "----",
        'type=AVC msg=audit(11/14/2023 22:13:20.123:42) : avc:  denied  { read write } for  pid=7 '
        'comm=qmgr path=/var/spool/postfix-sub/public/qmgr dev="dm-0" ino=12 '
        'scontext=system_u:system_r:postfix_qmgr_t:s0 tcontext=system_u:object_r:postfix_spool_t:s0 '
        'tclass=fifo_file permissive=1',
        'Nov 14 22:13:20 mx kernel: audit: type=1400 audit(1700000000.123:43): avc:  denied  { getattr } '
        'for  pid=7 comm="qmgr" path="/x" dev="dm-0" ino=13 scontext=system_u:system_r:postfix_qmgr_t:s0 '
        'tcontext=system_u:object_r:var_t:s0 tclass=file permissive=0',
        'Nov 14 22:13:21 mx audit[7]: AVC avc:  denied  { search } for  pid=7 comm="qmgr" name="y" '
        'scontext=system_u:system_r:postfix_qmgr_t:s0 tcontext=system_u:object_r:var_t:s0 tclass=dir',
        "Nov 14 22:13:22 mx postfix/qmgr[7]: warning: unrelated",
    ]
    items, stats = read(lines)
    assert [d.perms for d in items] == [("read", "write"), ("getattr",), ("search",)]
    assert items[0].comm == "qmgr" and items[0].stamp.serial == 42 and items[0].stamp.time is not None
    assert items[0].path == "/var/spool/postfix-sub/public/qmgr"
    assert stats.foreign == 2


def test_granted_ioctlcmd_capability_hex_comm_and_selinux_err():
    lines = [
        'type=AVC msg=audit(1.0:1): avc:  granted  { ioctl } for  pid=1 comm=6D61737465722078 '
        'path="/dev/null" dev="devtmpfs" ino=4 ioctlcmd=0x5401 scontext=system_u:system_r:postfix_master_t:s0 '
        'tcontext=system_u:object_r:null_device_t:s0 tclass=chr_file',
        'type=AVC msg=audit(1.0:2): avc:  denied  { dac_read_search } for  pid=1 comm="master" capability=2 '
        ' scontext=system_u:system_r:postfix_master_t:s0 tcontext=system_u:system_r:postfix_master_t:s0 '
        'tclass=capability permissive=0',
        'type=SELINUX_ERR msg=audit(1.0:3): op=security_compute_sid invalid_context='
        '"unconfined_u:unconfined_r:postfix_master_t:s0" scontext=unconfined_u:unconfined_r:unconfined_t:s0 '
        'tcontext=system_u:object_r:postfix_master_exec_t:s0 tclass=process',
        'type=MAC_POLICY_LOAD msg=audit(1.0:4): auid=0 ses=3 lsm=selinux res=1',
    ]
    items, stats = read(lines)
    granted, cap, err, load = items
    assert granted.result == "granted" and granted.ioctlcmd == "0x5401" and granted.comm == "master x"
    assert cap.capability == 2
    assert isinstance(err, SelinuxError) and err.invalid_context.role == "unconfined_r"
    assert isinstance(load, PolicyLoad) and stats.policy_loads == 1


def test_crafted_fields_are_rejected_not_trusted():
    crafted = AVC.replace("tcontext=system_u:object_r:postfix_spool_t:s0",
                          'tcontext="system_u:object_r:shadow_t;allow x y:z *;:s0"')
    items, stats = read([crafted, AVC.replace("{ read write }", "{ read; }")])
    assert items == [] and stats.malformed == 2


def test_time_window_and_stamps():
    early = AVC.replace("1700000000.123:42", "1600000000.000:1")
    items, stats = read([early, AVC], since=1650000000)
    assert len(items) == 1 and stats.filtered == 1
    assert parse_stamp("1700000000.123:42").serial == 42
    assert parse_since("1650000000") == 1650000000.0
    assert parse_since("today", now=1700000000) <= 1700000000
    with pytest.raises(ToolError):
        parse_since("next tuesday-ish")


def test_rotated_logs_oldest_first_and_gzip(tmp_path):
    base = tmp_path / "audit.log"
    base.write_text(AVC.replace(":42)", ":3)") + "\n")
    (tmp_path / "audit.log.1").write_text(AVC.replace(":42)", ":2)") + "\n")
    with gzip.open(str(tmp_path / "audit.log.2.gz"), "wt") as handle:
        handle.write(AVC.replace(":42)", ":1)") + "\n")
    files = expand_rotated(str(base))
    assert [os.path.basename(f) for f in files] == ["audit.log.2.gz", "audit.log.1", "audit.log"]
    reader = AuditReader()
    assert [d.stamp.serial for d in reader.read_files(files)] == [1, 2, 3]


def test_unreadable_file_is_a_tool_error(tmp_path):
    with pytest.raises(ToolError):
        list(AuditReader().read_files([str(tmp_path / "missing.log")]))


RECORD_LINES = st.sampled_from([AVC] + list(open(fixture_path("constructed_cases.log"), encoding="utf-8")))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(
    st.text(max_size=300),
    RECORD_LINES.flatmap(lambda line: st.integers(0, len(line)).map(lambda n: line[:n])),
    RECORD_LINES.flatmap(lambda line: st.tuples(st.integers(0, len(line)), st.text(max_size=20)).map(
        lambda cut: line[:cut[0]] + cut[1] + line[cut[0]:])),
), max_size=30))
def test_fuzz_no_exception_escapes(lines):
    reader = AuditReader()
    items = list(reader.read_lines(lines))
    assert all(isinstance(i, (Denial, SelinuxError, PolicyLoad)) for i in items)
    assert reader.stats.lines == len(lines)


def test_the_cycle_collector_is_paused_only_inside_and_skips_what_was_made_there():
    import gc
    from postmulti_selinux.avc.reader import cyclic_gc_paused
    assert gc.isenabled()
    frozen = getattr(gc, "get_freeze_count", lambda: 0)()
    with cyclic_gc_paused():
        assert not gc.isenabled()
        made = [{"n": n} for n in range(1000)]
    assert gc.isenabled() and made
    if hasattr(gc, "get_freeze_count"):     # 3.7+: what the analysis made is not walked again
        assert gc.get_freeze_count() >= frozen + 1000
