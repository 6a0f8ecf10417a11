"""Stream audit records (raw audit.log, ``ausearch [-i]`` output, syslog/journal lines) into
:class:`Denial`, :class:`SelinuxError` and :class:`PolicyLoad` items.

Records of one event share an ``audit(time:serial)`` stamp; the AVC records come first and the
SYSCALL/CWD/PATH records follow, so an event is kept open only while its records arrive (a
small bounded window absorbs interleaving) and memory does not grow with the log. Lines that
are not audit records, or are damaged, are counted in :class:`ReadStats` and skipped; so are
lines of more than :data:`MAX_LINE` bytes and a last line the input ends in the middle of (a
record cut short). Input is read as given, once and in order: a pipe or FIFO like a file. Bytes
that are not UTF-8 become backslash escapes (``\\xff``).
"""

import bz2
import contextlib
import datetime
import gc
import glob
import gzip
import os
import re
import stat
import zlib
from collections import OrderedDict
from typing import Optional

from postmulti_selinux.avc.records import Denial, PolicyLoad, SelinuxError, Stamp, parse_context
from postmulti_selinux.errors import ToolError

# Numeric record types as syslog/dmesg print them ("type=1400 audit(...)").
_NUMERIC_TYPES = {"1400": "AVC", "1401": "SELINUX_ERR", "1300": "SYSCALL", "1302": "PATH",
                  "1307": "CWD", "1327": "PROCTITLE", "1403": "MAC_POLICY_LOAD", "1320": "EOE", "1107": "USER_AVC",
                  "1122": "USER_SELINUX_ERR"}
_WANTED = frozenset(["AVC", "USER_AVC", "SELINUX_ERR", "USER_SELINUX_ERR", "SYSCALL", "PATH",
                     "CWD", "PROCTITLE", "MAC_POLICY_LOAD", "EOE"])
_JOINED = frozenset(["SYSCALL", "PATH", "CWD", "PROCTITLE", "EOE"])

_HEADER = re.compile(r"type=(?P<type>[A-Z_]+|\d{4})\s+(?:msg=)?audit\((?P<stamp>[^()]{1,64})\)\s?:\s?")
# journald without auditd: "audit[2419]: AVC avc:  denied ..." (no stamp).
_JOURNAL = re.compile(r"\baudit\[\d+\]: (?P<type>AVC|SELINUX_ERR|USER_AVC) (?P<body>.*)$")
_AVC = re.compile(r"avc:\s+(?P<result>denied|granted)\s+\{(?P<perms>[^{}]*)\}\s+for\s(?P<rest>.*)$")
_AVC_HEAD = re.compile(r"avc:  (?P<result>denied|granted)  \{(?P<perms>[^{}]*)\} for  (?P<rest>.*)$")
_FIELD = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)=("[^"]*"|\'[^\']*\'|\S*)')
_HEX = re.compile(r"\A(?:[0-9A-F]{2})+\Z")
_PERM = re.compile(r"\A[A-Za-z][A-Za-z0-9_]{0,63}\Z")
_INTERPRETED_TIME = ("%m/%d/%Y %H:%M:%S", "%m/%d/%y %H:%M:%S", "%Y-%m-%d %H:%M:%S")

OPEN_EVENTS = 256       # events kept open at once waiting for their SYSCALL/PATH records
AVC_CACHE = 8192       # parsed AVC bodies kept (a log repeats the same denial many times)
_SYSCALL_KEYS = ("comm", "exe", "success")
_NO_FIELDS = {}
WANTED_NAMES = frozenset(list(_WANTED) + [k for k, v in _NUMERIC_TYPES.items() if v in _WANTED])
_CONTEXTS = {}          # raw context text -> Context (or None), bounded
_RECORD_TYPE = re.compile(r"\A(?:[A-Z_]+|\d{4})\Z")
# Longest line read, in bytes without its newline: a kernel audit record is at most ~8970 bytes.
MAX_LINE = 64 << 10
DECODE_ERRORS = "backslashreplace"      # bytes that are not UTF-8 are shown, escaped


class ReadStats(object):
    """Counters of what the reader saw; nothing it could not read is fatal."""

    def __init__(self):
        self.lines = 0
        self.records = 0        # audit records of any type
        self.avc = 0            # AVC/USER_AVC records turned into denials
        self.selinux_err = 0
        self.policy_loads = 0
        self.foreign = 0        # lines that are not audit records at all
        self.malformed = 0      # AVC/SELINUX_ERR records we could not understand
        self.truncated = 0      # last lines the input ended in the middle of (records cut short)
        self.too_long = 0       # lines of more than MAX_LINE bytes
        self.filtered = 0       # records outside the time window
        self.files = []         # type: list
        self.scanned = 0        # files read by the fast raw-log scanner (the rest line by line)
        self.processes = 1      # most processes one file was split between
        self.walker = None      # how the scanner walked raw logs: "native" (C) or "pattern" (re)

    def as_dict(self):
        return dict((k, v) for k, v in vars(self).items())


def fields(text):
    # type: (str) -> dict
    """key=value pairs of an audit record body; the first occurrence of a key wins."""
    out = {}
    for key, value in _FIELD.findall(text):
        if key not in out:
            out[key] = value
    return out


def unquote(value):
    # type: (str) -> str
    """Decode an audit value: "quoted", hex-encoded (untrusted strings), or bare."""
    if value is None:
        return None
    if value[:1] == '"' and len(value) >= 2 and value[-1] == '"':
        return value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    if _HEX.match(value) and len(value) >= 2:
        try:
            return bytes.fromhex(value).decode("utf-8", DECODE_ERRORS)
        except ValueError:
            return value
    if value in ("(null)", "?", "(none)"):
        return None
    return value


def _int(value, base=10):
    try:
        return int(value, base)
    except (TypeError, ValueError):
        return None


def parse_stamp(text):
    # type: (str) -> Stamp
    """``1564228663.666:56`` (raw) or ``07/27/2019 20:17:43.666:56`` (``ausearch -i``)."""
    head, sep, serial = text.rpartition(":")
    if not sep:
        return Stamp(None, None)
    serial_no = _int(serial.strip())
    head = head.strip()
    try:
        return Stamp(float(head), serial_no)
    except ValueError:
        pass
    main, _, frac = head.partition(".")
    for fmt in _INTERPRETED_TIME:
        try:
            moment = datetime.datetime.strptime(main, fmt)
        except ValueError:
            continue
        seconds = moment.timestamp()  # interpreted output is in local time
        if frac.isdigit():
            seconds += float("0." + frac)
        return Stamp(seconds, serial_no)
    return Stamp(None, serial_no)


class Event(object):
    __slots__ = ("stamp", "avcs", "errs", "syscall", "cwd", "paths", "argv")   # paths: (name, inode)

    def __init__(self, stamp):
        self.stamp = stamp
        self.avcs = []
        self.errs = []
        self.syscall = None
        self.cwd = None
        self.paths = []
        self.argv = ()

    def join(self, rtype, body):
        """Take in a SYSCALL/CWD/PATH/PROCTITLE record of this event."""
        if rtype == "SYSCALL":
            self.syscall = pick(body, _SYSCALL_KEYS)
        elif rtype == "CWD":
            self.cwd = unquote(fields(body).get("cwd"))
        elif rtype == "PATH" and len(self.paths) < 16:
            values = fields(body)
            self.paths.append((unquote(values.get("name")), _int(values.get("inode"))))
        elif rtype == "PROCTITLE":
            self.argv = proctitle_argv(body)


class AuditReader(object):
    """Turn lines into Denial / SelinuxError / PolicyLoad items, streaming.

    ``since``/``until`` are epoch seconds; records without a time are kept (they cannot be
    placed). ``stats`` is updated as lines are consumed.
    """

    def __init__(self, since=None, until=None):
        self.since = since
        self.until = until
        self.stats = ReadStats()
        self.open_events = OrderedDict()
        self._avc_cache = {}

    # -- public -------------------------------------------------------------------------
    def read_lines(self, lines):
        """Yield items from an iterable of text lines; call :meth:`finish` (or use read_files)."""
        stats = self.stats
        handle = self.line
        for line in lines:
            stats.lines += 1
            # Cheap pre-filter: most lines of a busy audit.log are other records.
            if "audit" not in line:
                stats.foreign += 1
                continue
            try:
                items = handle(line)
            except Exception:  # noqa: BLE001 - a damaged line must never stop the read
                stats.malformed += 1
                continue
            if items:
                for item in items:
                    yield item
        for item in self.finish():
            yield item

    def finish(self):
        """Flush every open event (end of input)."""
        while self.open_events:
            _, event = self.open_events.popitem(last=False)
            for item in self._emit(event):
                yield item

    def read_files(self, paths, fold=False):
        """Yield items from files in the given order (see :func:`expand_rotated`).

        With ``fold``, regular files in auditd's raw format go through the fast scanner
        (:mod:`.scan`), which folds identical events into one denial with a ``count``. Anything
        else (``-`` for stdin, a pipe, a FIFO) is read once, line by line.
        """
        for path in paths:
            self.stats.files.append(path)
            try:
                for item in self._read_file(path, fold):
                    yield item
            except (EOFError, OSError, zlib.error) as exc:      # a damaged .gz/.bz2, EIO …
                raise ToolError("cannot read audit log {}: {}".format(
                    path, getattr(exc, "strerror", None) or exc), hint="pass a readable file with --input")

    def _read_file(self, path, fold):
        from postmulti_selinux.avc import scan
        with open_log(path) as handle:
            if fold and is_regular(path):
                head = handle.read(1 << 16)
                if scan.is_raw_log(head):
                    self.stats.scanned += 1
                    for item in scan.RawScanner(self).read(handle, head):
                        yield item
                    return
                handle.seek(0)
            for item in self.read_lines(self.lines_of(handle)):
                yield item

    def lines_of(self, handle):
        """The lines of a binary file object as text, in bounded memory. A line of more than
        :data:`MAX_LINE` bytes, and a last line without its newline (the input ends in the
        middle of it: a record cut short), are counted and skipped."""
        stats = self.stats
        readline = handle.readline
        while True:
            line = readline(MAX_LINE + 1)
            if line.endswith(b"\n"):
                yield line.decode("utf-8", DECODE_ERRORS)
                continue
            if not line:
                return
            stats.lines += 1
            if len(line) <= MAX_LINE:
                stats.truncated += 1
                return
            stats.too_long += 1
            while line and not line.endswith(b"\n"):
                line = readline(MAX_LINE)

    def collect(self, paths, collection):
        """Fold files (in order) into ``collection``: raw logs through the fast scanner, split
        between processes when big (:func:`.scan.collect_file`); others line by line."""
        from postmulti_selinux.avc import scan
        for path in paths:
            plain = is_regular(path) and not path.endswith((".gz", ".bz2"))
            if plain:
                with open_log(path) as handle:
                    plain = scan.is_raw_log(handle.read(1 << 16))
            if plain:
                self.stats.files.append(path)
                scan.collect_file(self, path, collection)
            else:
                collection.add_all(self.read_files([path], fold=True))
        return collection

    # -- one line -------------------------------------------------------------------------
    def line(self, line):
        """Items completed by this line (a list), or None."""
        header = split_header(line)
        if header is None:
            match = _JOURNAL.search(line)
            if not match:
                self.stats.foreign += 1
                return None
            rtype, stamp_text, body = match.group("type"), None, match.group("body")
        else:
            rtype, stamp_text, body = header
        self.stats.records += 1
        if rtype not in _WANTED:
            return None
        if rtype in _JOINED:
            # Only useful for events already opened by an AVC/SELINUX_ERR record.
            event = self.open_events.get(stamp_text)
            if event is None:
                return None
            event.join(rtype, body)
            if rtype == "EOE":
                del self.open_events[stamp_text]
                return list(self._emit(event))
            return None
        stamp = parse_stamp(stamp_text) if stamp_text else Stamp(None, None)
        if not self.in_window(stamp):
            self.stats.filtered += 1
            return None
        if rtype == "MAC_POLICY_LOAD":
            self.stats.policy_loads += 1
            # Emit what came before the load first, so "since last load" can drop it.
            return list(self.finish()) + [PolicyLoad(stamp)]
        if stamp_text is None:
            out = list(self.finish())      # keep log order
            event = Event(stamp)
            self._add(event, rtype, body)
            return out + list(self._emit(event))
        event = self.open_events.get(stamp_text)
        out = None
        if event is None:
            event = Event(stamp)
            self.open_events[stamp_text] = event
            while len(self.open_events) > OPEN_EVENTS:
                _, old = self.open_events.popitem(last=False)
                out = (out or []) + list(self._emit(old))
        self._add(event, rtype, body)
        return out

    def in_window(self, stamp):
        if stamp.time is None:
            return True
        if self.since is not None and stamp.time < self.since:
            return False
        if self.until is not None and stamp.time > self.until:
            return False
        return True

    def _add(self, event, rtype, body):
        if rtype in ("AVC", "USER_AVC"):
            event.avcs.append(body)
        else:
            event.errs.append(body)

    # -- event -> items -------------------------------------------------------------------
    def _emit(self, event):
        for body in event.avcs:
            denial = self.denial(event, body)
            if denial is None:
                self.stats.malformed += 1
            else:
                self.stats.avc += 1
                yield denial
        for body in event.errs:
            err = self._selinux_err(event, body)
            if err is None:
                self.stats.malformed += 1
            else:
                self.stats.selinux_err += 1
                yield err

    def denial(self, event, body):
        match = _AVC_HEAD.match(body) or _AVC.search(body)
        if not match:
            return None
        perms = avc_perms(match.group("perms"))
        rest = self.avc_rest(match.group("rest"))
        if perms is None or rest is None:
            return None
        return build_denial(event, match.group("result"), perms, rest, _pid_of(body))

    def avc_rest(self, rest):
        """The parsed fields after ``pid=N`` of an AVC record (cached: logs repeat them)."""
        cache = self._avc_cache
        key = _without_pid(rest)
        parsed = cache.get(key)
        if parsed is None:
            if len(cache) >= AVC_CACHE:
                cache.clear()
            parsed = cache[key] = parse_avc_rest(key)
        return parsed or None

    @staticmethod
    def _selinux_err(event, body):
        values = fields(body)
        if not any(k in values for k in ("op", "invalid_context", "scontext", "reason")):
            return None
        syscall = event.syscall or {}
        return SelinuxError(
            stamp=event.stamp, op=unquote(values.get("op")), reason=unquote(values.get("reason")),
            invalid_context=parse_context(unquote(values.get("invalid_context"))),
            scontext=parse_context(unquote(values.get("scontext"))),
            tcontext=parse_context(unquote(values.get("tcontext"))),
            tclass=unquote(values.get("tclass")),
            comm=unquote(values.get("comm") or syscall.get("comm")),
            exe=unquote(values.get("exe") or syscall.get("exe")))


@contextlib.contextmanager
def cyclic_gc_paused():
    """Pause Python's cycle collector while a log is read and triaged (:func:`.analysis.analyse`
    holds it around both). Reading makes millions of short-lived tuples and no reference cycles,
    so the collector's passes over them find nothing and cost about a fifth of the time (more
    while a worker's result is unpickled); reference counting still frees everything, and the
    collector runs again afterwards, but not over what was made meanwhile (the analysis, which
    the caller keeps): a first pass over those objects would cost as much as a fifth of reading
    a big log. (``gc.freeze``, Python 3.7+; 3.6 lets that pass run.)"""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            freeze = getattr(gc, "freeze", None)
            if freeze is not None:
                freeze()
            gc.enable()


def split_header(line):
    """(record type, stamp text, body) of ``type=X msg=audit(STAMP): body`` or None. Plain
    string operations for the usual raw line; anything unusual goes to the header regex."""
    if line.startswith("type="):
        space = line.find(" ", 5)
        rtype = line[5:space]
        if space > 5 and rtype not in WANTED_NAMES and (
                line.startswith("msg=audit(", space + 1) or line.startswith("audit(", space + 1)) \
                and _RECORD_TYPE.match(rtype):
            return rtype, None, ""     # a record of no interest: no need to read its stamp
        if space > 5 and _RECORD_TYPE.match(rtype):
            if line.startswith("msg=audit(", space + 1):
                start = space + 11
            elif line.startswith("audit(", space + 1):
                start = space + 7
            else:
                start = -1
            end = line.find(")", start) if start > 0 else -1
            if 0 < end - start <= 64 and "(" not in line[start:end]:
                pos = end + 1
                if line[pos:pos + 1].isspace():
                    pos += 1
                if line[pos:pos + 1] == ":":
                    pos += 1
                    if line[pos:pos + 1].isspace():
                        pos += 1
                    return _NUMERIC_TYPES.get(rtype, rtype), line[start:end], line[pos:]
    match = _HEADER.search(line)
    if match is None:
        return None
    rtype = match.group("type")
    return _NUMERIC_TYPES.get(rtype, rtype), match.group("stamp"), line[match.end():]


def pick(text, keys):
    # type: (str, tuple) -> dict
    """Like :func:`fields` restricted to ``keys``, without tokenizing the whole record: the
    first ``key=`` that starts a field (kernel records hex-encode values holding spaces or
    quotes, so a quoted value cannot hide one)."""
    out = {}
    for key in keys:
        needle = key + "="
        at = 0 if text.startswith(needle) else text.find(" " + needle) + 1
        if at == 0 and not text.startswith(needle):
            continue
        start = at + len(needle)
        quote = text[start:start + 1]
        if quote in ("\"", "'"):
            close = text.find(quote, start + 1)
            if close > 0:
                out[key] = text[start:close + 1]
                continue
        stop = start
        length = len(text)
        while stop < length and not text[stop].isspace():
            stop += 1
        out[key] = text[start:stop]
    return out


def _without_pid(body):
    """The AVC text minus its ``pid=N`` field: the cache key of one repeated denial."""
    if body.startswith("pid="):
        end = body.find(" ")
        return "" if end < 0 else body[end + 1:]
    at = body.find(" pid=")
    if at < 0:
        return body
    end = body.find(" ", at + 5)
    return body[:at] if end < 0 else body[:at] + body[end:]


def _pid_of(body):
    at = 0 if body.startswith("pid=") else body.find(" pid=") + 1
    if at == 0 and not body.startswith("pid="):
        return None
    end = body.find(" ", at + 4)
    return _int(body[at + 4:] if end < 0 else body[at + 4:end])


def _context(raw):
    """parse_context(unquote(raw)), cached: a log names few distinct contexts."""
    try:
        return _CONTEXTS[raw]
    except KeyError:
        pass
    if len(_CONTEXTS) >= 10000:
        _CONTEXTS.clear()
    context = _CONTEXTS[raw] = parse_context(unquote(raw))
    return context


def avc_perms(text):
    # type: (str) -> Optional[tuple]
    """The permissions of ``{ read write }`` as a tuple, or None when one is not a permission name."""
    perms = tuple(text.split())
    if not perms or not all(_PERM.match(p) for p in perms):
        return None
    return perms


_CANONICAL_REST = re.compile(
    r'(?:comm=(?P<comm>"[^"]*"|[0-9A-F]+) )?(?:(?P<what>name|path)=(?P<obj>"[^"]*"|[0-9A-F]+) )?'
    r'(?:dev=(?P<dev>"[^"]*"|[^\s"]+) ino=(?P<ino>[0-9]+) )?'
    r'scontext=(?P<scontext>[^\s"]+) tcontext=(?P<tcontext>[^\s"]+) tclass=(?P<tclass>[A-Za-z0-9_]+)'
    r'(?: permissive=(?P<permissive>[01]))?\Z')


def parse_avc_rest(rest):
    """The fields of an AVC record after its permissions, or False if malformed."""
    match = _CANONICAL_REST.match(rest)
    if match is not None:       # the kernel's usual file record: no need to tokenize it
        scontext, tcontext = _context(match.group("scontext")), _context(match.group("tcontext"))
        if scontext is None or tcontext is None or not _PERM.match(match.group("tclass")):
            return False
        what, obj = match.group("what"), unquote(match.group("obj"))
        permissive = match.group("permissive")
        return (scontext, tcontext, match.group("tclass"), obj if what == "name" else None,
                obj if what == "path" else None, unquote(match.group("dev")),
                _int(match.group("ino")), unquote(match.group("comm")), None,
                None if permissive is None else permissive == "1", None, None, None, None)
    values = fields(rest)
    scontext = _context(values.get("scontext"))
    tcontext = _context(values.get("tcontext"))
    tclass = unquote(values.get("tclass"))
    if scontext is None or tcontext is None or not tclass or not _PERM.match(tclass):
        return False
    permissive = values.get("permissive")
    return (scontext, tcontext, tclass,
            unquote(values.get("name")), unquote(values.get("path")), unquote(values.get("dev")),
            _int(values.get("ino")), unquote(values.get("comm")), unquote(values.get("exe")),
            None if permissive is None else permissive == "1", _int(values.get("src")),
            _int(values.get("dest")), unquote(values.get("ioctlcmd")), _int(values.get("capability")))


def build_denial(event, result, perms, rest, pid, count=1):
    # type: (Event, str, tuple, tuple, Optional[int], int) -> Denial
    """A :class:`Denial` from an AVC record's parts and its event's joined records."""
    (scontext, tcontext, tclass, name, path, dev, ino, comm, exe, permissive, src, dest,
     ioctlcmd, capability) = rest
    syscall = event.syscall or _NO_FIELDS
    path_from = "record"
    if not path:
        path = _path_from_records(event, name, ino)
    if not path:
        path, path_from = _path_from_argv(event, name), "argv"
    success = syscall.get("success")
    absolute = bool(path) and path.startswith("/")
    return Denial(
        event.stamp, result, perms, scontext, tcontext, tclass,
        path if absolute else None, name, dev, ino,
        comm or unquote(syscall.get("comm")), exe or unquote(syscall.get("exe")),
        pid, permissive, src if "name_bind" in perms else dest, ioctlcmd, capability,
        None if success is None else success == "yes",
        path_from if absolute else None, count)


def _path_from_records(event, name, ino):
    """Full path from the event's PATH (and CWD) records, matched by inode, then by name."""
    best = None
    for rname, rino in event.paths:
        if not rname:
            continue
        if ino is not None and rino == ino:
            best = rname
            break
        if name and best is None and os.path.basename(rname.rstrip("/")) == name:
            best = rname
    if best and not best.startswith("/") and event.cwd and event.cwd.startswith("/"):
        best = os.path.normpath(os.path.join(event.cwd, best))
    return best


def proctitle_argv(body):
    # type: (str) -> tuple
    """The command line of a PROCTITLE record: hex (NUL-separated), "quoted" (one word), or
    ``ausearch -i``'s space-separated text. At most 32 arguments are kept."""
    _, sep, value = body.partition("proctitle=")
    if not sep:
        return ()
    value = value.strip()
    if _HEX.match(value.split(" ", 1)[0]):
        try:
            text = bytes.fromhex(value.split(" ", 1)[0]).decode("utf-8", DECODE_ERRORS)
        except ValueError:
            return ()
        return tuple(a for a in text.split("\0") if a)[:32]
    if len(value) >= 2 and value[0] == '"':
        end = value.find('"', 1)
        return (value[1:end],) if end > 1 else ()
    return tuple(value.split())[:32]


def _path_from_argv(event, name):
    """Full path from the event's command line: the only argument naming ``name`` (``chown root
    /etc/postfix-sub`` denied on ``name="postfix-sub"``), made absolute with CWD if needed.
    Two arguments with that name (``cmp etc/hosts /etc/hosts``) say nothing: None."""
    if not name or not event.argv:
        return None
    matches = [a for a in event.argv[1:]
               if not a.startswith("-") and os.path.basename(a.rstrip("/")) == name]
    if len(matches) != 1:
        return None
    arg = matches[0]
    if not arg.startswith("/"):
        if not (event.cwd and event.cwd.startswith("/")):
            return None
        arg = os.path.join(event.cwd, arg)
    return os.path.normpath(arg)


def is_regular(path):
    # type: (str) -> bool
    """True for a regular file (one that can be read twice, sought and split); False for ``-``
    (stdin), a pipe, a FIFO, a device, or a path that cannot be looked at."""
    try:
        return path != "-" and stat.S_ISREG(os.stat(path).st_mode)
    except (IOError, OSError, ValueError):
        return False


def open_log(path):
    """Open a (possibly gzip/bzip2-compressed) log as a binary file object (``-``: stdin);
    unreadable => ToolError. Lines end at "\n" only, as auditd and syslog write them."""
    try:
        if path == "-":
            import sys
            return sys.stdin.buffer
        if path.endswith(".gz"):
            return gzip.open(path, "rb")
        if path.endswith(".bz2"):
            return bz2.open(path, "rb")
        return open(path, "rb")
    except (IOError, OSError) as exc:
        raise ToolError("cannot read audit log {}: {}".format(path, exc.strerror or exc),
                        hint="pass a readable file with --input")


def expand_rotated(path):
    # type: (str) -> list
    """``audit.log`` plus its rotations (``audit.log.1``, ``.2.gz`` …), oldest first."""
    rotated = []
    for candidate in glob.glob(glob.escape(path) + ".*"):
        suffix = candidate[len(path) + 1:].split(".", 1)[0]
        if suffix.isdigit():
            rotated.append((int(suffix), candidate))
    ordered = [p for _, p in sorted(rotated, reverse=True)]
    if os.path.exists(path):
        ordered.append(path)
    return ordered


def parse_since(text, now=None):
    # type: (str, float) -> float
    """``--since``: epoch seconds, ISO date/time, ``today``, ``yesterday``, ``recent`` (10 min),
    ``boot``, ``this-week``... as far as a mail admin needs; anything else is a ToolError."""
    now = now if now is not None else datetime.datetime.now().timestamp()
    text = (text or "").strip()
    midnight = datetime.datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    named = {"now": now, "recent": now - 600, "today": midnight.timestamp(),
             "yesterday": (midnight - datetime.timedelta(days=1)).timestamp(),
             "this-week": (midnight - datetime.timedelta(days=midnight.weekday())).timestamp()}
    if text in named:
        return named[text]
    if text == "boot":
        try:
            with open("/proc/uptime") as handle:
                return now - float(handle.read().split()[0])
        except (IOError, OSError, ValueError, IndexError):
            raise ToolError("cannot read /proc/uptime for --since boot")
    try:
        return float(text)
    except ValueError:
        pass
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d",
                "%m/%d/%Y %H:%M:%S", "%m/%d/%Y", "%H:%M:%S", "%H:%M"):
        try:
            moment = datetime.datetime.strptime(text, fmt)
        except ValueError:
            continue
        if fmt.startswith("%H"):
            moment = midnight.replace(hour=moment.hour, minute=moment.minute, second=moment.second)
        return moment.timestamp()
    raise ToolError("cannot understand time {!r}".format(text),
                    hint="use e.g. 2024-05-01, '2024-05-01 10:00:00', 10:00, today, recent, boot, "
                         "an epoch number, or 'load' for the last policy load")
