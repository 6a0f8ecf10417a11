"""``avc`` reads audit input as given: pipes, FIFOs and stdin whole and once; a record cut short
or with invalid fields is counted and skipped, never a finding, alike in the line reader, the
scan pattern and the native walker; memory stays bounded whatever the line length; commands for
the admin are shell-quoted; nothing from a log reaches the terminal raw; a broken
``--file-contexts`` is one clear error; with ``--json`` every error is one JSON object too."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc

import click
import pytest
from click.testing import CliRunner

from postmulti_selinux.avc import analysis, scan
from postmulti_selinux.avc.collect import Collection
from postmulti_selinux.avc.reader import MAX_LINE, AuditReader
from postmulti_selinux.avc.triage import Scope, command
from postmulti_selinux.cli.avc import register
from postmulti_selinux.cli.errors import GuardedGroup
from tests.avc.conftest import cached_policy, fixture_path

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VM_CAPTURE = os.path.join(REPO, "tests", "fixtures", "vm", "scenario0_audit.log")
CLI = [os.path.join(os.path.dirname(sys.executable), "postmulti-selinux"), "avc"]
sys.path.insert(0, os.path.join(REPO, "bench"))
import gen_audit_log  # noqa: E402


@click.group(cls=GuardedGroup)
def group():
    """Stand-in for postmulti-selinux."""


register(group)


def policy_args(debian):
    return ["--policy", debian.policy, "--file-contexts", debian.file_contexts, "--policy-type", "default"]


def run(*args, **kwargs):
    return CliRunner().invoke(group, ["avc"] + list(args), **kwargs)


def capture():
    with open(VM_CAPTURE, "rb") as handle:
        return handle.read()


def event(serial, rest, perms="read", domain="postfix_master_t"):
    """An AVC event in the kernel's layout (AVC, SYSCALL, PROCTITLE): the native walker folds it."""
    stamp = "1700000000.{:03d}:{}".format(serial, serial)
    return [('type=AVC msg=audit({}): avc:  denied  {{ {} }} for  pid=9 comm="master" {}'
             .format(stamp, perms, rest.format(domain=domain))).encode("latin-1"),
            'type=SYSCALL msg=audit({}): arch=c000003e syscall=2 success=no exit=-13 a0=1 items=1 '
            'ppid=1 pid=9 comm="master" exe="/usr/lib/postfix/sbin/master" key=(null)'.format(stamp).encode(),
            'type=PROCTITLE msg=audit({}): proctitle=6D6173746572'.format(stamp).encode()]


GOOD = ('name="pickup" dev="vda1" ino=11 scontext=system_u:system_r:{domain}:s0 '
        'tcontext=system_u:object_r:var_spool_t:s0 tclass=fifo_file permissive=0')

KEYS = ("lines", "records", "avc", "selinux_err", "foreign", "malformed", "truncated", "too_long")


def read_three_ways(path, regular=True):
    """(denial groups, counters) of ``path`` as the line reader, the scan pattern and the native
    walker read it; they must agree. ``regular``: the scanner must have read it (a raw log)."""
    out = []
    for fold, native in ((False, None), (True, False), (True, True)):
        reader = AuditReader()
        collection = Collection(Scope(["httpd_t"]))
        walker = scan._fastscan
        if native is False:
            scan._fastscan = None
        try:
            if fold:
                reader.collect([path], collection)
                assert reader.stats.scanned == (1 if regular else 0)
                assert native is None or not regular or reader.stats.walker == ("native" if native else "pattern")
            else:
                collection.add_all(reader.read_files([path]))
        finally:
            scan._fastscan = walker
        out.append((_groups(collection), dict((k, getattr(reader.stats, k)) for k in KEYS)))
    assert out[1] == out[0] and out[2] == out[0]
    return out[0]


def feed(path_or_fd, data, chunks=None):
    """Write ``data`` (then each of ``chunks``: (bytes, times)) to a pipe's write end or a FIFO's
    path, from a thread, and close it."""
    def write():
        fd = os.open(path_or_fd, os.O_WRONLY) if isinstance(path_or_fd, str) else path_or_fd
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            for block, times in chunks or ():
                for _ in range(times):
                    view = memoryview(block)
                    while view:
                        view = view[os.write(fd, view):]
        except BrokenPipeError:
            pass
        finally:
            os.close(fd)
    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


# -- 1. pipes, FIFOs, stdin ------------------------------------------------------------------
def test_a_pipe_is_read_whole_like_the_file(tmp_path):
    """Before, the reader sniffed a pipe's head and then opened it again: what the head had taken
    was lost (all of a small log: "no denials"). (A FIFO, which then waited for a next writer
    for ever, is tested through the CLI below, in a process that can time out.)"""
    log = tmp_path / "audit.log"
    log.write_bytes(capture())
    expected = read_three_ways(str(log))
    assert expected[0] and expected[1]["avc"] > 0
    read_end, write_end = os.pipe()
    writer = feed(write_end, capture())
    try:
        assert read_once("/dev/fd/{}".format(read_end)) == expected
    finally:
        writer.join(10)
        os.close(read_end)


def read_once(path):
    """(denial groups, counters) of what can be read only once (a pipe), by collect."""
    reader = AuditReader()
    collection = Collection(Scope(["httpd_t"]))
    reader.collect([path], collection)
    assert reader.stats.scanned == 0
    return _groups(collection), dict((k, getattr(reader.stats, k)) for k in KEYS)


def _groups(collection):
    return sorted(((g.source, g.target, g.tclass, g.path, tuple(sorted(g.perms)), g.count)
                   for g in collection.resolved_groups()), key=repr)


def _findings(stdout):
    data = json.loads(stdout)
    return data["findings"], dict((k, data["stats"][k]) for k in KEYS)


def test_the_cli_reads_process_substitution_dev_stdin_dash_and_a_fifo(debian, tmp_path):
    args = CLI + ["--json"] + policy_args(debian)
    plain = subprocess.run(args + ["--input", VM_CAPTURE], stdout=subprocess.PIPE, check=True, timeout=60)
    expected = _findings(plain.stdout)
    assert expected[0]
    substituted = subprocess.run(["bash", "-c", 'exec "$@" --input <(cat "$LOG")', "bash"] + args,
                                 env=dict(os.environ, LOG=VM_CAPTURE), stdout=subprocess.PIPE,
                                 check=True, timeout=60)
    assert _findings(substituted.stdout) == expected
    for name in ("-", "/dev/stdin"):
        piped = subprocess.run(args + ["--input", name], input=capture(), stdout=subprocess.PIPE,
                               check=True, timeout=60)
        assert _findings(piped.stdout) == expected
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    writer = feed(fifo, capture())
    from_fifo = subprocess.run(args + ["--input", fifo], stdout=subprocess.PIPE, check=True, timeout=60)
    writer.join(10)
    assert _findings(from_fifo.stdout) == expected


# -- 2. records cut short or with invalid fields ---------------------------------------------
LAST = ('type=AVC msg=audit(1795572799.000:999): avc:  denied  { read } for  pid=1 comm="x" '
        'name="y" dev="vda1" ino=5 scontext=system_u:system_r:postfix_master_t:s0 '
        'tcontext=system_u:object_r:etc_t:s0 tclass=file permissive=0').encode()


def test_a_record_cut_short_at_the_end_is_counted_never_a_finding(tmp_path):
    """Cut anywhere in the last line (``tclass=fi``, ``tcontext=…:object_r:et``, ``{ rea``): the
    denials are those of the log without it, and one truncated record is counted, alike in all
    three readers. Before, ``tclass=fi`` became a missing rule on class ``fi``."""
    base = capture()
    (tmp_path / "base.log").write_bytes(base)
    groups, counts = read_three_ways(str(tmp_path / "base.log"))
    cuts = sorted(set(list(range(1, len(LAST), 11)) + [LAST.index(b"tclass=fi") + 9,
                                                        LAST.index(b"object_r:et") + 11,
                                                        LAST.index(b"{ rea") + 5, len(LAST) - 1]))
    for cut in cuts:
        log = tmp_path / "cut{}.log".format(cut)
        log.write_bytes(base + LAST[:cut])
        got_groups, got = read_three_ways(str(log))
        assert got_groups == groups, LAST[:cut]
        assert got == dict(counts, lines=counts["lines"] + 1, truncated=1), LAST[:cut]
    whole = tmp_path / "whole.log"
    whole.write_bytes(base + LAST + b"\n")
    assert ("postfix_master_t", "etc_t", "file", None, ("read",), 1) in read_three_ways(str(whole))[0]


def test_a_cut_record_is_reported_and_never_written_into_a_module(debian, tmp_path):
    log = tmp_path / "audit.log"
    log.write_bytes(LAST[:LAST.index(b"tclass=fi") + 9])
    result = run("--input", str(log), "--module", "cutmod", "--output-dir", str(tmp_path), *policy_args(debian))
    assert result.exit_code == 0, result.output
    assert "1 truncated record skipped" in result.output
    assert "no denials of Postfix domains found" in result.output
    assert not (tmp_path / "cutmod.te").exists()
    data = json.loads(run("--input", str(log), "--json", *policy_args(debian)).stdout)
    assert data["findings"] == [] and data["stats"]["truncated"] == 1


@pytest.mark.parametrize("rest, perms", [
    (GOOD.replace("tclass=fifo_file", "tclass=9fifo"), "read"),          # not an identifier
    (GOOD.replace(" tclass=fifo_file", ""), "read"),                     # no tclass
    (GOOD.replace("tclass=fifo_file", "tclass=fi-fo"), "read"),
    (GOOD.replace("tclass=fifo_file", 'tclass="fifo file"'), "read"),
    (GOOD, "re.ad"),                                                     # not a permission name
    (GOOD, "read 9write"),
    (GOOD.replace("system_u:object_r:var_spool_t:s0", "system_u:object_r"), "read"),   # contexts
    (GOOD.replace("system_u:system_r:{domain}:s0", "system_u:system_r:{domain};x:s0"), "read"),
    (GOOD.replace("tcontext=system_u:object_r:var_spool_t:s0 ", ""), "read"),
])
def test_records_with_invalid_fields_are_malformed_alike(tmp_path, rest, perms):
    """Folded by the native walker (the kernel's layout, repeated) or read line by line: a record
    with a class, permission or context that does not parse is a malformed record, counted once
    per event, never a denial. Before, ``tclass=9fifo`` made a denial on class ``9fifo``."""
    lines = event(1, GOOD) + event(2, rest, perms) + event(3, rest, perms) + event(4, GOOD)
    log = tmp_path / "audit.log"
    log.write_bytes(b"\n".join(lines) + b"\n")
    groups, counts = read_three_ways(str(log))
    assert groups == [("postfix_master_t", "var_spool_t", "fifo_file", None, ("read",), 2)]
    assert counts["malformed"] == 2 and counts["avc"] == 2


# -- 3. bounded memory -----------------------------------------------------------------------
def test_over_long_lines_are_skipped_and_counted_alike(tmp_path, monkeypatch):
    """Lines of more than MAX_LINE bytes (one just over, 4.5 MB of NULs across chunks, one at the
    very end without a newline) are skipped and counted by all three readers, also when the log
    is split between worker processes; a line of exactly MAX_LINE bytes is read. No part starts
    inside a line (before, a split point in the NULs started a part in the middle of one)."""
    gen_audit_log.generate(20000, str(tmp_path / "gen.log"), seed=5)
    base = (tmp_path / "gen.log").read_bytes()
    middle = base.index(b"\n", len(base) // 3) + 1
    plain = tmp_path / "plain.log"
    plain.write_bytes(base + b"y" * MAX_LINE + b"\n")
    groups, counts = read_three_ways(str(plain))
    assert counts["too_long"] == 0 and counts["avc"] > 1000
    log = tmp_path / "audit.log"
    log.write_bytes(base[:middle] + b"x" * (MAX_LINE + 1) + b"\n" + b"\0" * (9 << 19) + b"\n"
                    + base[middle:] + b"y" * MAX_LINE + b"\n" + b"z" * (MAX_LINE + 1))
    size = os.path.getsize(str(log))
    expected = (groups, dict(counts, lines=counts["lines"] + 3, too_long=3))
    assert read_three_ways(str(log)) == expected
    monkeypatch.setattr(scan, "PARALLEL_MIN", 1 << 20)
    monkeypatch.setattr(scan, "workers", lambda: 4)
    starts = scan._range_starts(str(log), size, 4)
    nuls = (middle + MAX_LINE + 2, middle + MAX_LINE + 2 + (9 << 19))
    assert len(starts) >= 3 and not any(nuls[0] <= at <= nuls[1] for at in starts)
    with open(str(log), "rb") as handle:
        for at in starts[1:-1]:
            handle.seek(at - 1)
            assert handle.read(1) == b"\n"
    assert read_three_ways(str(log)) == expected
    assert scan._first_event_start(b"\0" * 1000) is None


def test_memory_stays_bounded_whatever_the_line_length():
    """300 MB of NULs without a line break, through a pipe between records: read in bounded
    memory (the line is skipped and counted) and the records after it are still read. Before,
    the whole line was made into one string (1 GB of NULs peaked at 2.15 GB)."""
    base = capture()
    cut = base.index(b"\n", 20000) + 1
    read_end, write_end = os.pipe()
    nuls = bytes(1 << 20)
    started = time.time()
    tracemalloc.start()
    try:
        writer = feed(write_end, base[:cut], [(nuls, 300), (b"\n" + base[cut:], 1)])
        reader = AuditReader()
        collection = Collection(Scope(["httpd_t"]))
        reader.collect(["/dev/fd/{}".format(read_end)], collection)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        os.close(read_end)
    writer.join(10)
    assert peak < 16 << 20, "peak {} MB".format(peak >> 20)
    assert reader.stats.too_long == 1 and reader.stats.truncated == 0
    full = AuditReader()
    whole = Collection(Scope(["httpd_t"]))
    full.collect([VM_CAPTURE], whole)
    assert _groups(collection) == _groups(whole) and reader.stats.avc == full.stats.avc
    assert time.time() - started < 20


def test_memory_stays_bounded_in_the_raw_log_scanner(tmp_path):
    """The same in a regular raw log, read by the scanner in chunks (300 MB of NULs as a hole in
    a sparse file, written in no time). Before, the scanner carried the unended line from chunk
    to chunk, growing without bound."""
    base = capture()
    cut = base.index(b"\n", 20000) + 1
    log = tmp_path / "audit.log"
    with open(str(log), "wb") as handle:
        handle.write(base[:cut])
        handle.seek(300 << 20, os.SEEK_CUR)
        handle.write(b"\n" + base[cut:])
    started = time.time()
    reader = AuditReader()
    collection = Collection(Scope(["httpd_t"]))
    tracemalloc.start()
    try:
        collection.add_all(reader.read_files([str(log)], fold=True))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reader.stats.scanned == 1 and reader.stats.too_long == 1
    assert peak < 48 << 20, "peak {} MB".format(peak >> 20)
    whole = Collection(Scope(["httpd_t"]))
    whole.add_all(AuditReader().read_files([VM_CAPTURE], fold=True))
    assert _groups(collection) == _groups(whole)
    assert time.time() - started < 20


def _as_at_most_2gb():
    import resource
    signal.signal(signal.SIGINT, signal.SIG_DFL)      # a background shell may have ignored it
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def test_a_device_is_refused_as_input(debian):
    """``--input /dev/zero`` (or a disk) is no audit log and would be read forever: one line,
    exit 1, before anything is read."""
    for device in ("/dev/zero", "/dev/null"):
        proc = subprocess.run(CLI + ["--input", device] + policy_args(debian),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        lines = proc.stderr.decode().splitlines()
        assert proc.returncode == 1 and len(lines) == 1 and "is a device" in lines[0], lines
        assert proc.stdout == b""


def test_endless_input_streams_in_bounded_memory_until_interrupted(debian):
    """An endless stdin (here /dev/zero behind ``--input -``): read on, in bounded memory, until
    the admin interrupts it (then one line, exit 130), as with any endless stream (``tail -f``,
    a FIFO kept open). Before, memory grew until MemoryError."""
    with open("/dev/zero", "rb") as zero:
        proc = subprocess.Popen(CLI + ["--input", "-"] + policy_args(debian), stdin=zero,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                preexec_fn=_as_at_most_2gb)
    try:
        time.sleep(3)
        assert proc.poll() is None, proc.communicate()
        with open("/proc/{}/status".format(proc.pid)) as status:
            rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        assert rss < 256 << 10, "{} MB resident".format(rss >> 10)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert err.decode().splitlines() == ["postmulti-selinux: interrupted"] and out == b""


# -- 4. commands are shell-quoted -------------------------------------------------------------
EVIL = "a b;touch PWNED;#'$(touch PWNED2)\"`touch PWNED3`"


def _hex(text):
    return text.encode().hex().upper()


def _avc_line(serial, domain, path, target="postfix_spool_t"):
    return ('type=AVC msg=audit(1700000000.{0:03d}:{0}): avc:  denied  {{ read }} for  pid=1 comm="x" '
            'path={1} dev="vda1" ino={0} scontext=system_u:system_r:{2}:s0 '
            'tcontext=system_u:object_r:{3}:s0 tclass=file permissive=0'.format(serial, _hex(path), domain, target))


def _stubs(tmp_path, *names):
    """A bin directory whose ``names`` record their arguments (NUL-separated lines) in a log."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in names:
        stub = bindir / name
        stub.write_text('#!/bin/sh\n{ printf "%s\\0" "$(basename "$0")" "$@"; echo; } >> "$CALLS"\n'
                        '[ "$(basename "$0")" = postconf ] && echo postfix\nexit 0\n')
        stub.chmod(0o755)
    return str(bindir)


def _run_pasted(tmp_path, bindir, text):
    """Run ``text`` as an admin pasting it would (sh, our stubs first, the real tools after)."""
    calls = tmp_path / "calls"
    if calls.exists():
        calls.unlink()
    subprocess.run(["sh", "-c", text], cwd=str(tmp_path), check=True, timeout=30,
                   env={"PATH": bindir + ":/usr/bin:/bin", "CALLS": str(calls)})
    assert not [p for p in os.listdir(str(tmp_path)) if p.startswith("PWNED")], text
    return [line.split("\0")[:-1] for line in calls.read_text().splitlines()]


def test_printed_commands_quote_paths_from_the_log(debian, tmp_path):
    """Audit hex-encodes a path with spaces, quotes or ``;``: decoded, it must stay one argument
    of the restorecon/semanage command printed for the admin. Before, pasting
    ``restorecon -R …/a b;touch /tmp/PWNED;#`` ran the touch."""
    child = "/var/spool/postfix-sub/etc/" + EVIL
    other = "/etc/" + EVIL
    result = analysis.analyse(cached_policy(debian.policy), lines=[
        _avc_line(1, "postfix_smtp_t", child), _avc_line(2, "postfix_master_t", other)],
        expected_context=debian.expected())
    fixes = dict((f.path, f.fix) for f in result.findings if f.kind == "mislabel")
    assert set(fixes) == {child, other}, [f.line() for f in result.findings]
    bindir = _stubs(tmp_path, "restorecon", "semanage")
    mapped = fixes[child]
    pasted = mapped[mapped.index("(semanage ") + 1:-1]
    assert _run_pasted(tmp_path, bindir, pasted) == [
        ["semanage", "fcontext", "-a", "-e", "/var/spool/postfix", "/var/spool/postfix-sub"],
        ["restorecon", "-R", child]]
    assert _run_pasted(tmp_path, bindir, fixes[other]) == [["restorecon", "-v", other]]


def test_the_state_fix_quotes_the_instance_directories(tmp_path):
    from postmulti_selinux.avc.paths import InstanceDirs, PathMapper
    from postmulti_selinux.avc.triage import Triage
    dirs = InstanceDirs("postfix-x", "/etc/postfix-x/" + EVIL, "/var/spool/postfix-x", "/var/lib/postfix-x/" + EVIL)
    fix = Triage(None, mapper=PathMapper([dirs]))._chown_fix("postfix-x")
    pasted = fix[len("no module: "):fix.rindex(" (postmulti-selinux secure does this)")]
    bindir = _stubs(tmp_path, "postconf", "chown", "chmod")
    assert _run_pasted(tmp_path, bindir, pasted) == [
        ["postconf", "-c", dirs.config_directory, "-h", "mail_owner"],
        ["chown", "postfix", dirs.data_directory], ["chmod", "0700", dirs.data_directory]]


@pytest.mark.parametrize("argv", [
    ("restorecon", "-v", "/x/" + EVIL), ("semanage", "port", "-a", "-t", "smtp_port_t", "-p", "tcp", 2525),
    ("setsebool", "-P", "use_samba_home_dirs", "on"), ("semanage", "user", "-m", "-R", "... staff_r", "staff_u"),
    ("restorecon", "-v", "/x/-n\n\t$HOME *"),
])
def test_command_quotes_every_argument(argv):
    import shlex
    assert shlex.split(command(*argv)) == [str(a) for a in argv]


def test_plain_arguments_stay_readable(debian):
    """Quoting changes nothing where nothing needs it: the constructed cases' commands read as before."""
    result = analysis.analyse(cached_policy(debian.policy), files=[fixture_path("constructed_cases.log")],
                              expected_context=debian.expected())
    fixes = [f.fix for f in result.findings]
    assert "semanage port -a -t smtp_port_t -p tcp 2525" in fixes
    assert "setsebool -P use_samba_home_dirs on" in fixes
    assert ("label /var/spool/postfix-sub/etc/resolv.conf as the parent's /var/spool/postfix/etc/resolv.conf "
            "(semanage fcontext -a -e /var/spool/postfix /var/spool/postfix-sub; "
            "restorecon -R /var/spool/postfix-sub/etc/resolv.conf)") in fixes


# -- 5. undecodable bytes and control characters ----------------------------------------------
def test_undecodable_bytes_are_backslash_escapes_alike(tmp_path):
    """Bytes that are not UTF-8, in a quoted name or a hex-encoded path, become ``\\xNN`` text in
    all three readers (before: U+FFFD, which hid what the bytes were)."""
    path = b"/var/spool/postfix-sub/\xff\xfeq\x1b[2J"
    rest = 'path={} dev="vda1" ino=12 scontext=system_u:system_r:{{domain}}:s0 ' \
           'tcontext=system_u:object_r:var_spool_t:s0 tclass=file permissive=0'.format(path.hex().upper())
    named = GOOD.replace('name="pickup"', 'name="pi\xe9\xffck"')
    log = tmp_path / "audit.log"
    log.write_bytes(b"\n".join(event(1, rest) + event(2, named) + event(3, rest)) + b"\n")
    groups, counts = read_three_ways(str(log))
    paths = [g[3] for g in groups]
    assert "/var/spool/postfix-sub/\\xff\\xfeq\x1b[2J" in paths and counts["malformed"] == 0
    reader = AuditReader()
    names = [d.name for d in reader.read_files([str(log)]) if d.name]
    assert names == ["pi\\xe9\\xffck"]


def test_nothing_from_the_log_reaches_the_terminal_raw(debian, tmp_path):
    """Escape sequences, bells, carriage returns, bidi overrides and undecodable bytes in a path
    or a SELINUX_ERR field are shown as backslash escapes; JSON is plain ASCII."""
    evil = "/etc/x\x1b]0;owned\x07\r\u202e\x9b2J"
    lines = [_avc_line(1, "postfix_master_t", evil).encode(),
             b'type=SELINUX_ERR msg=audit(1700000000.002:2): op="sec\x1b[31m\xfe\x07" reason="a" '
             b'scontext=unconfined_u:unconfined_r:unconfined_t:s0 tclass=process']
    log = tmp_path / "audit.log"
    log.write_bytes(b"\n".join(lines) + b"\n")
    text = run("--input", str(log), "-v", *policy_args(debian))
    assert text.exit_code == 0, text.output
    assert "[mislabel]" in text.output and "\\x1b]0;owned\\x07\\r\\u202e\\x9b2J" in text.output
    assert "sec\\x1b[31m\\xfe\\x07" in text.output
    assert all(c.isprintable() or c == "\n" for c in text.output), text.output
    as_json = run("--input", str(log), "--json", *policy_args(debian))
    assert as_json.exit_code == 0 and all(ord(c) < 128 for c in as_json.stdout)
    assert any(f["path"] == evil for f in json.loads(as_json.stdout)["findings"])


# -- 6. a broken --file-contexts, and errors with --json --------------------------------------
CHECK_FC = ("import sys\nfrom postmulti_selinux.avc.paths import SelabelExpected\n"
            "from postmulti_selinux.errors import ToolError\ntry:\n    SelabelExpected(sys.argv[1])\n"
            "except ToolError as exc:\n    print(exc)\n    sys.exit(3)\n")


@pytest.mark.parametrize("name, content, message", [
    ("garbage", b"garbage\n", "cannot load file contexts"),
    ("binary", bytes(range(256)) * 8, "cannot load file contexts"),
    ("empty", b"", "has no entries"),
    ("comments", b"# only a comment\n\n", "has no entries"),
    ("directory", None, "cannot read file contexts"),
])
def test_a_broken_file_contexts_is_one_clear_error(debian, tmp_path, name, content, message):
    """Before, libselinux's selabel_open returned NULL on such a file (the next lookup crashed
    the process: SIGSEGV), or an empty one made every expected label null."""
    path = tmp_path / name
    if content is None:
        path.mkdir()
    else:
        with open(debian.file_contexts, "rb") as real:
            path.write_bytes(content if name in ("empty", "comments") else real.read() + content)
    done = subprocess.run([sys.executable, "-c", CHECK_FC, str(path)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert done.returncode == 3, (done.returncode, done.stderr)
    assert message in done.stdout and len(done.stdout.splitlines()) == 1 and done.stderr == ""


def test_a_broken_file_contexts_is_one_json_error_with_json(debian, tmp_path):
    broken = tmp_path / "file_contexts"
    broken.write_bytes(b"garbage\n")
    done = subprocess.run(CLI + ["--json", "--input", VM_CAPTURE, "--policy", debian.policy,
                                 "--policy-type", "default", "--file-contexts", str(broken)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert data["ok"] is False and "cannot load file contexts" in data["error"]
    assert len(done.stdout.splitlines()) == 1
    assert done.stderr.splitlines() == ["postmulti-selinux: error: " + data["error"]]


@pytest.mark.parametrize("make, message", [
    (lambda tmp: str(tmp / "missing.log"), "audit log not found"),
    (lambda tmp: (tmp / "bad.log.gz").write_bytes(b"not gzip\n") and str(tmp / "bad.log.gz"),
     "cannot read audit log"),
    (lambda tmp: (tmp / "bad.log.bz2").write_bytes(b"not bzip2\n") and str(tmp / "bad.log.bz2"),
     "cannot read audit log"),
])
def test_avc_errors_are_one_json_object_and_one_line(debian, tmp_path, make, message):
    result = run("--json", "--input", make(tmp_path), *policy_args(debian))
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is False and message in data["error"]
    assert [line.split(": ", 1)[1] for line in result.stderr.splitlines()] == ["error: " + data["error"]]
    assert "Traceback" not in result.output
    ok = json.loads(run("--json", "--input", VM_CAPTURE, *policy_args(debian)).stdout)
    assert ok["ok"] is True
