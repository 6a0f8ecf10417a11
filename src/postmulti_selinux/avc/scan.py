"""Fast path for logs in auditd's raw format (every line ``type=X msg=audit(STAMP): …``).

Reading a million-line audit.log line by line in Python is what makes audit2allow slow. Here the
regular-expression engine walks large binary chunks and picks out each AVC event as the kernel
writes it: the AVC record(s), its SYSCALL record, auxiliary records (skipped), then CWD, PATH,
PROCTITLE and EOE records of the same stamp. Identical events (same AVC text apart from the pid,
same SYSCALL outcome and program, same CWD/PATH/PROCTITLE) are counted in C
(``collections.Counter``), and only the first event of each distinct kind becomes a
:class:`Denial`, whose ``count`` says how many it stands for.

Where the optional native walker (``_fastscan.c``, built at install time when a C compiler is
there) is present, it walks the chunks instead of the pattern: it reads exactly as the pattern
does (``tests/avc/test_fastscan.py`` compares the two) but folds complete events itself, so
that only distinct events and what the line reader must see reach Python.

Everything else that matters (SELINUX_ERR, USER_AVC, MAC_POLICY_LOAD, an AVC event laid out
otherwise, ``ausearch -i`` stamps, and any line that does not start like a record: blank,
damaged, syslog-form …) goes to :class:`AuditReader` line by line, so both paths
give the same denials (``tests/avc/test_scan.py`` checks it on generated and damaged logs).
Memory is bounded: a chunk, the carried tail of the last event, at most :data:`FOLD_LIMIT`
distinct events before they are handed on, and parse caches of :data:`CACHE_SIZE` entries.
Lines the line reader skips are taken out before either walker sees them, counted as it counts
them: lines of more than :data:`.reader.MAX_LINE` bytes, and a last line without its newline.
"""

import io
import os
import pickle
import re
import signal
from collections import Counter, OrderedDict
from operator import itemgetter

from postmulti_selinux.avc import reader as line_reader
from postmulti_selinux.avc.records import Stamp

try:        # the native walker (_fastscan.c), built where a C compiler was at install time
    from postmulti_selinux.avc import _fastscan
except ImportError:     # pragma: no cover - the pure-Python scanner does the same, slower
    _fastscan = None
if os.environ.get("POSTMULTI_SELINUX_NATIVE") == "0":     # to compare, or to rule it out
    _fastscan = None

CHUNK = 4 << 20          # bytes read at a time
PARALLEL_MIN = 8 << 20   # bytes of log per worker process, at least
FOLD_LIMIT = 65536       # distinct events kept before they are turned into denials
CACHE_SIZE = 16384       # entries each parse cache keeps (one starts over when full)
SNIFF_LINES = 64         # lines looked at to decide the format of a file
OWN_EXTRA = 0.05         # of a part: how much more of a split log this process reads than a worker

_NODE = rb"(?:node=[^ \n]{1,255} )?"
# A SYSCALL field's value as the line reader takes it: "quoted", or up to the next space.
_VALUE = rb'(?:"[^"\n]*"|(?:[0-9A-F]+|\(null\)|\?)(?= ))'


_SAME = rb" msg=audit\((?P=stamp)\):"
# Record types the line reader joins to an event or opens one with: never skipped unread.
_READ = rb"(?:AVC|USER_AVC|SELINUX_ERR|USER_SELINUX_ERR|MAC_POLICY_LOAD|SYSCALL|CWD|PATH|PROCTITLE|EOE) "


def _optional_record(rtype, group):
    """An optional record of the event whose text after the stamp is captured (with its
    leading space, so that a present record is never an empty group)."""
    return rb"(?:\n" + _NODE + rb"type=" + rtype + _SAME + rb"(?P<" + group + rb"> [^\n]*))?"


# An AVC event in the kernel's order: its AVC record(s), the SYSCALL record, auxiliary records
# the line reader ignores (EXECVE, SOCKADDR …, skipped), then CWD, up to four PATH records,
# PROCTITLE and EOE, each optional. The next line must not carry the same stamp: an event laid
# out otherwise (five PATH records, say) does not match here and goes to the line reader whole.
_AVC_EVENT = (
    _NODE + rb"type=AVC msg=audit\((?P<stamp>[0-9]{1,20}\.[0-9]{1,9}:[0-9]{1,20})\): "
    rb"avc:  (?P<result>denied|granted)  \{(?P<perms>[^{}\n]{1,4096})\} for  "
    rb"pid=(?P<pid>[0-9]{1,10}) (?P<rest>[^\n]*)"
    rb"(?P<more>(?:\n" + _NODE + rb"type=AVC" + _SAME + rb"[^\n]*)*)"
    rb"\n" + _NODE + rb"type=SYSCALL" + _SAME + rb" arch=[0-9a-f]+ syscall=[0-9]+ (?:per=[0-9a-f]+ )?"
    rb"success=(?P<success>yes|no) [^\n]* comm=(?P<scomm>" + _VALUE + rb") "
    rb"exe=(?P<exe>" + _VALUE + rb")[^\n]*"
    rb"(?P<skipped>(?:\n" + _NODE + rb"type=(?!" + _READ + rb")[A-Z_]{1,32}" + _SAME + rb"[^\n]*){0,16})"
    + _optional_record(b"CWD", b"cwd")
    + _optional_record(b"PATH", b"path0") + _optional_record(b"PATH", b"path1")
    + _optional_record(b"PATH", b"path2") + _optional_record(b"PATH", b"path3")
    + _optional_record(b"PROCTITLE", b"title") +
    rb"(?:\n" + _NODE + rb"type=EOE msg=audit\((?P=stamp)\)(?P<eoe>:)[^\n]*)?"
    # It ends at the end of a line (no group may give back the end of its line to pass the
    # check after it), and the next line must not carry the same stamp.
    rb"(?![^\n])(?!\n" + _NODE + rb"type=[A-Z0-9_]{1,32}" + _SAME + rb")")
# Records that open an event the line reader must see.
_OPENERS = rb"AVC|USER_AVC|SELINUX_ERR|USER_SELINUX_ERR|MAC_POLICY_LOAD"
# The start of a line the line reader surely takes for a record; any other line (blank, damaged,
# foreign) goes to the line reader, which says what it is.
_RECORD = _NODE + rb"type=[A-Z_]+ msg=audit\([^()\n]{1,64}\):"
_EVENT = re.compile(
    rb"\n(?:" + _AVC_EVENT +
    rb"|(?P<line>" + _NODE + rb"type=(?P<otype>" + _OPENERS + rb")"
    rb" msg=audit\((?P<ostamp>[^()\n]{1,64})\)[^\n]*)"
    rb"|(?!" + _RECORD + rb")(?:(?P<other>[^\n]+)|(?=(?P<blank>\n))))")
# The same without node= prefixes, about 15% faster: used until a node= line turns up.
_EVENT_PLAIN = re.compile(_EVENT.pattern.replace(_NODE, b""))
_GROUPS = dict((name, index - 1) for name, index in _EVENT.groupindex.items())
_STAMP, _PID, _LINE, _OTYPE, _OSTAMP, _OTHER, _BLANK = (
    _GROUPS[n] for n in ("stamp", "pid", "line", "otype", "ostamp", "other", "blank"))
_MORE, _SKIPPED = _GROUPS["more"], _GROUPS["skipped"]
# An event's joined records, as captured: CWD, four PATHs, PROCTITLE (and EOE).
_JOINS = tuple(_GROUPS[n] for n in ("cwd", "path0", "path1", "path2", "path3", "title"))
_JOIN_TYPES = ("CWD", "PATH", "PATH", "PATH", "PATH", "PROCTITLE")
# What makes two events the same: everything but the stamp, the pid and skipped records,
# as a tuple (perms, result, rest, more, success, comm, exe, cwd, 4 paths, proctitle, eoe).
_KEY = itemgetter(*[_GROUPS[n] for n in ("perms", "result", "rest", "more", "success", "scomm", "exe")]
                  + list(_JOINS) + [_GROUPS["eoe"]])
_ENDINGS = itemgetter(_GROUPS["title"], _GROUPS["eoe"])     # an event ends with either
_STAMP_PID = itemgetter(_STAMP, _PID)
_LINE_OF, _OTHER_OF, _BLANK_OF = itemgetter(_LINE), itemgetter(_OTHER), itemgetter(_BLANK)
_JOINED = re.compile(rb"\n" + _NODE + rb"type=(?:SYSCALL|CWD|PATH|PROCTITLE|EOE) msg=audit\(")
_LATE_OPENER = re.compile(rb"\n" + _NODE + rb"type=(?:" + _OPENERS + rb") msg=audit\(")
_NEWLINE = re.compile(b"\n")
_STAMP_TEXT = re.compile(rb"msg=audit\(([^()\n]{1,64})\)")
JOIN_WINDOW = 1 << 16    # bytes after an event's first record searched for its other records


def is_raw_log(head):
    # type: (bytes) -> bool
    """True when the first lines of a log are auditd's raw records (``type=…``/``node=…``)."""
    lines = [l for l in head.split(b"\n")[:SNIFF_LINES] if l.strip()]
    if len(lines) > 1 and not head.endswith(b"\n"):
        lines = lines[:-1]           # a cut-off last line says nothing
    return bool(lines) and all(l.startswith((b"type=", b"node=")) and b" msg=audit(" in l
                               for l in lines)


class RawScanner(object):
    """Read raw audit logs through ``reader`` (an :class:`AuditReader`, whose filters, stats
    and line parser it shares), folding identical AVC events. Denials of domains ``in_scope``
    rejects are only counted by the collection: their paths are not worked out."""

    def __init__(self, reader, in_scope=None, native=None):
        self.reader = reader
        self.in_scope = in_scope
        # The native walker folds events itself; it knows no time window (reader.since/until).
        self.native = bool(_fastscan and native is not False and reader.since is None
                           and reader.until is None)
        reader.stats.walker = "native" if self.native else "pattern"
        self._counts = Counter()     # id of a first (stamp, pid) below -> events of that key
        self._firsts = {}            # an event's key -> (stamp, pid) of its first event
        # Natively, events are folded by the walker (see _fastscan.c), seeded per scanner.
        self._folder = _fastscan.Folder(int.from_bytes(os.urandom(8), "little")) if self.native else None
        self._perms = {}
        self._joined = {}        # an event's CWD/PATH/PROCTITLE texts -> (cwd, paths, argv)
        self._rests = {}         # an AVC record's text after pid= -> its parsed fields
        self._syscalls = {}      # (success, comm, exe) -> SYSCALL fields
        self._records = {}       # one CWD/PATH/PROCTITLE record (type, text) -> what it adds
        self._unions = {}        # permission lists of events merged into one denial -> their union
        self._event = _EVENT_PLAIN   # the scanning pattern (node= prefixes once they are seen)
        self._counted, self._counts_of_stamps = None, None    # see _stamp_counts
        self._skipping = False       # in a line of more than MAX_LINE bytes, not ended yet

    def read(self, handle, head=b"", limit=None):
        """Yield items from a binary file object of a raw log (``head``: bytes already read).

        With ``limit``, read that many bytes only (a range of a file split between workers);
        what follows is only searched for late records of events that started within it.
        """
        tail = b""
        remaining = limit
        # In a plain file, where the tail starts (a newline is before it, or the file starts).
        tail_at = handle.tell() - len(head) if isinstance(handle, io.BufferedReader) and handle.seekable() else None
        while True:
            if head:
                buf, head = b"\n" + head, b""
            else:
                size = CHUNK if remaining is None else min(CHUNK, remaining)
                buf = _read_after(handle, tail, tail_at, size) if size > 0 else b"\n" + tail
            got = len(buf) - 1 - len(tail)
            if remaining is not None:
                remaining -= got
            if not got:
                break
            shorter = self._without_long_lines(buf, len(buf) - got)
            if shorter is not buf:
                buf, tail_at = shorter, None    # no longer the file's bytes: join from here on
            # Keep JOIN_WINDOW bytes unread after the cut: late records of events before it.
            cut = _event_boundary(buf, len(buf) - JOIN_WINDOW)
            if cut <= 1:             # not enough yet
                tail = buf[1:]
                continue
            tail = buf[cut:]
            if tail_at is not None:
                tail_at += cut - 1
            for item in self._chunk(buf, cut):      # the tail is read again with the next chunk,
                yield item                          # but records of interleaved events are found in it
        if not tail.endswith(b"\n") and tail:
            # The input ends in the middle of a line: a record cut short, counted, never read.
            self.reader.stats.lines += 1
            self.reader.stats.truncated += 1
            tail = tail[:tail.rfind(b"\n") + 1]
        if tail:
            last = b"\n" + tail
            after = handle.read(JOIN_WINDOW) if limit is not None else b""
            for item in self._chunk(last + after[:after.rfind(b"\n") + 1], len(last)):
                yield item
        for item in self.flush():
            yield item
        for item in self.reader.finish():
            yield item

    def _without_long_lines(self, buf, new):
        """``buf`` (a newline, the carried tail, then what was just read, from offset ``new``)
        without its lines of more than MAX_LINE bytes, each counted as the line reader counts
        it; the rest of one not ended yet is skipped in what is read next. ``buf`` itself
        when it has none (the usual case: a search every MAX_LINE / 2 bytes tells)."""
        pieces, at = [], 0
        if self._skipping:
            end = buf.find(b"\n", new)
            self._skipping = end < 0
            pieces.append(buf[:new])
            at = len(buf) if end < 0 else end + 1
        stats = self.reader.stats
        for start, end in _long_lines(buf, at):
            stats.lines += 1
            stats.too_long += 1
            pieces.append(buf[at:start])
            at = end + 1
            self._skipping = end == len(buf)
        if not pieces:
            return buf
        pieces.append(buf[at:])
        return b"".join(pieces)

    # -- one chunk --------------------------------------------------------------------------
    def _chunk(self, buf, end):
        """Items completed by ``buf[:end]`` (a list; log order is kept around policy loads);
        what follows ``end`` is only searched for records of events that started before it."""
        if self.native:
            return self._walk(buf, end)
        stats = self.reader.stats
        matches = self._event.findall(buf, 0, end)
        # Lines the line reader is shown (and counts): other (or blank) lines.
        others = sum(map(bool, map(_OTHER_OF, matches))) + sum(map(bool, map(_BLANK_OF, matches)))
        if others and self._event is _EVENT_PLAIN and any(
                line.startswith(b"node=") for line in map(_OTHER_OF, matches)):
            self._event = _EVENT            # a multi-node log: read with node= prefixes from here
            return self._chunk(buf, end)
        lines = len(_NEWLINE.findall(buf, 0, end)) - 1      # twice as fast as bytes.count here
        stats.lines += lines
        stats.records += lines - others
        # An event is complete when its PROCTITLE or EOE record came with it; otherwise more
        # of its records may come later, after another event's (they interleave).
        complete = list(map(any, map(_ENDINGS, matches)))
        if all(complete) and not others and not any(map(_LINE_OF, matches)):
            self._fold(matches)
            out = []
        else:
            out = self._in_order(buf, matches, complete)
        if len(self._counts) > FOLD_LIMIT:
            out.extend(self.flush())
        return out

    def _walk(self, buf, end):
        """:meth:`_chunk` with the native walker: it folds complete events itself and stops,
        in log order, at what the line reader must see and at events that may have more
        records later; these are handled as :meth:`_in_order` handles them."""
        walk, reader = _fastscan.walk, self.reader
        out, position, cursor, lines, others = [], 0, 0, 0, 0
        while True:
            kind, position, newlines, payload = walk(buf, position, end, self._event is _EVENT, self._folder)
            lines += newlines
            if kind == _fastscan.DONE:
                break
            if kind == _fastscan.SWITCH:
                self._event = _EVENT        # a multi-node log: read with node= prefixes from here
            elif kind == _fastscan.OTHER or kind == _fastscan.BLANK:
                others += 1
                out.extend(reader.line(_text(payload or b"")) or ())
            elif kind == _fastscan.LINE:
                line, otype, ostamp = payload
                items, cursor = self._slow(buf, ostamp, cursor, line)
                if otype == b"MAC_POLICY_LOAD":
                    out.extend(self.flush())
                out.extend(items)
            else:                           # an event without PROCTITLE or EOE
                stamp, pid, records, key = payload
                items, cursor = self._slow(buf, stamp, cursor, None, records)
                if items is None:           # nothing of it came later: fold it
                    self._folder.add(stamp, pid, key)
                else:
                    out.extend(items)
        reader.stats.lines += lines - 1
        reader.stats.records += lines - 1 - others
        if len(self._folder) > FOLD_LIMIT:
            out.extend(self.flush())
        return out

    def _in_order(self, buf, matches, complete):
        """Matches one by one, with a cursor into ``buf``: records for the line reader (events
        it must see whole) among the events to fold."""
        out, fast, cursor = [], [], 0
        for match, done in zip(matches, complete):
            if match[_OTHER] or match[_BLANK]:
                out.extend(self.reader.line(_text(match[_OTHER])) or ())
                continue
            if match[_LINE]:
                items, cursor = self._slow(buf, match[_OSTAMP], cursor, match[_LINE])
                if match[_OTYPE] == b"MAC_POLICY_LOAD":
                    self._fold(fast)
                    fast = []
                    out.extend(self.flush())
                out.extend(items)
            elif done:
                fast.append(match)
            else:
                records = (2 + match[_MORE].count(b"\n") + match[_SKIPPED].count(b"\n")
                           + sum(1 for index in _JOINS if match[index]))
                items, cursor = self._slow(buf, match[_STAMP], cursor, None, records)
                if items is None:
                    fast.append(match)      # nothing of it came later: fold it
                else:
                    out.extend(items)
        self._fold(fast)
        return out

    def _slow(self, buf, stamp, cursor, first_line, records=None):
        """Give an event's records to the line reader: ``first_line`` (its opening record)
        and then the records with its stamp found within :data:`JOIN_WINDOW` after it; or,
        without ``first_line``, all of them, and only if there are more than ``records``
        (else None: the fast path has them all). Returns (items, new cursor)."""
        needle = b"msg=audit(" + stamp + b")"
        at = buf.find(needle, cursor)
        if at < 0:
            if first_line is None:
                return None, cursor
            return self._feed([first_line]), cursor
        if first_line is None and self._stamp_counts(buf)[stamp] <= records:
            return None, at + 1     # no more records with its stamp in the whole buffer
        found = []
        end_window = at + JOIN_WINDOW
        load = buf.find(b"type=MAC_POLICY_LOAD ", at, end_window)
        if load >= 0:       # the line reader closes every event at a policy load
            end_window = load
        position = at
        while position >= 0:
            found.append(position)
            position = buf.find(needle, position + 1, end_window)
        if first_line is None and len(found) <= records:
            return None, at + 1
        lines = [first_line] if first_line is not None else []
        own = 0 if first_line is not None else records      # the event's contiguous records
        for index, position in enumerate(found):
            start = buf.rfind(b"\n", 0, position)
            # After them only SYSCALL/CWD/PATH/PROCTITLE/EOE: an AVC record is read as an
            # opener in its own right (the line reader joins it to the open event). What
            # follows a late one is left to it, so that the event is still open when it comes.
            if index < own or _JOINED.match(buf, start):
                lines.append(buf[start + 1:buf.find(b"\n", position)])
            elif first_line is None and _LATE_OPENER.match(buf, start):
                break
        return self._feed(lines), at + 1

    def _stamp_counts(self, buf):
        """How many records of ``buf`` carry each stamp (counted once a buffer, when an event
        without PROCTITLE or EOE makes the scanner ask whether more of its records follow;
        older kernels write no PROCTITLE, so there every event asks)."""
        if self._counted is not buf:
            self._counted, self._counts_of_stamps = buf, Counter(_STAMP_TEXT.findall(buf))
        return self._counts_of_stamps

    def _feed(self, lines):
        reader = self.reader
        reader.stats.records -= len(lines)          # the line reader counts what it is given
        items = []
        for line in lines:
            items.extend(reader.line(_text(line)) or ())
        return items

    def _fold(self, matches):
        if self.reader.since is not None or self.reader.until is not None:
            kept, dropped = [], 0
            for match in matches:
                if self.reader.in_window(_stamp(match[_STAMP])):
                    kept.append(match)
                else:   # the line reader counts each AVC record it filters out
                    dropped += 1 + match[_MORE].count(b"\n")
            self.reader.stats.filtered += dropped
            matches = kept
        # The key (all that is kept of the event besides its first stamp and pid) is built in C.
        # Each distinct key keeps the (stamp, pid) of its first event; events are counted by
        # that object's id, one small-integer lookup instead of a second one by the long key.
        firsts = map(self._firsts.setdefault, map(_KEY, matches), map(_STAMP_PID, matches))
        self._counts.update(map(id, firsts))

    # -- folded events -> denials -----------------------------------------------------------
    def flush(self):
        """Denials for every distinct event folded so far, in order of first appearance.

        Events that differ only in their permissions become one denial with all of them (the
        line reader's groups merge them the same way), which keeps this step small.
        """
        if self.native:
            entries = self._folder.drain()
        else:
            entries = self._entries()
        # Lists of one inner key merge into one denial, but some stay apart (_apart_kind).
        merged = []
        for inner, variants in entries:
            if len(variants) == 1:
                raw, stamp, pid, count = variants[0]
                merged.append((inner, (stamp, pid), (raw,), count))
                continue
            raws = tuple(v[0] for v in variants)
            if self._union_of(raws)[1]:                      # the usual case: all merge
                _, stamp, pid, _ = variants[0]
                merged.append((inner, (stamp, pid), raws, sum(v[3] for v in variants)))
                continue
            apart = OrderedDict()
            for raw, stamp, pid, count in variants:
                kind = self._apart_kind(raw)
                entry = apart.get(kind)
                if entry is None:
                    apart[kind] = [inner, (stamp, pid), [raw], count]
                else:
                    entry[2].append(raw)
                    entry[3] += count
            merged.extend((inner, first, tuple(raws), count) for inner, first, raws, count in apart.values())
        out = []
        stats = self.reader.stats
        denials, perms_of = self._denials, self._perms_of
        for inner, first, variants, count in merged:
            made = denials(inner, first, perms_of(variants), count)
            if not made:
                stats.malformed += count
            stats.avc += count * len(made)
            out.extend(made)
        return out

    def _denials(self, inner, first, perms, count):
        result, rest, more, success, scomm, exe = inner[:6]
        stamp, pid = first
        event = line_reader.Event(_stamp(stamp))
        event.syscall = _cached(self._syscalls, (success, scomm, exe), _syscall_fields)
        parsed = _cached(self._rests, rest, _parse_rest)
        if more or not parsed or self.in_scope is None or self.in_scope(parsed[0].type):
            event.cwd, event.paths, event.argv = _cached(self._joined, inner[6:12], self._join_records)
        out = []
        if perms and parsed:
            out.append(line_reader.build_denial(event, result.decode(), perms, parsed, int(pid), count))
        if more:
            for line in more.split(b"\n")[1:]:
                denial = self.reader.denial(event, _text(line).partition("): ")[2])
                if denial is not None:
                    out.append(denial._replace(count=count))
        return out

    def _join_records(self, texts):
        """(cwd, paths, argv) of an event's CWD/PATH/PROCTITLE texts, each record parsed once."""
        scratch = line_reader.Event(None)
        for rtype, text in zip(_JOIN_TYPES, texts):
            if text:
                cwd, paths, argv = _cached(self._records, (rtype, text), _record_joins)
                if cwd is not None:
                    scratch.cwd = cwd
                if paths and len(scratch.paths) < 16:
                    scratch.paths.extend(paths)
                if argv is not None:
                    scratch.argv = argv
        return scratch.cwd, scratch.paths, scratch.argv

    def _perms_in(self, raw):
        """The permissions of a raw ``{ … }`` text, parsed once; () if one does not parse."""
        return _cached(self._perms, raw, _parse_perms)

    def _apart_kind(self, raw):
        """(False, None) for a permission list that merges with the others of its event; a
        name_bind's (its port is src=, not dest=) and one that does not parse stay apart."""
        return (b"name_bind" in raw, None if self._perms_in(raw) else raw)

    def _perms_of(self, variants):
        """The union of the permission lists in ``variants`` (a tuple of raw ``{ … }`` texts, in
        order of first appearance); () for an unparsable one, which :meth:`flush` never merges
        with others."""
        if len(variants) == 1:
            return self._perms_in(variants[0])
        return self._union_of(variants)[0]

    def _union_of(self, raws):
        """(union of the permission lists ``raws``, whether they all merge: none is a
        name_bind's or fails to parse), worked out once for each tuple of lists."""
        return _cached(self._unions, raws, lambda key: (
            _union(map(self._perms_in, key)), all(self._apart_kind(raw) == (False, None) for raw in key)))

    def _entries(self):
        """The events the pattern folded, as the native walker's folder gives them: by inner
        key (all but the permission list), each with its permission lists' first stamp, pid and
        count, all in order of first appearance."""
        counts, firsts = self._counts, self._firsts
        self._counts, self._firsts = Counter(), {}
        entries = OrderedDict()
        for key, first in firsts.items():
            variants = entries.get(key[1:])
            if variants is None:
                variants = entries[key[1:]] = []
            variants.append((key[0], first[0], first[1], counts[id(first)]))
        return entries.items()


def _read_after(handle, tail, tail_at, size):
    """``b"\\n" + tail`` and the next ``size`` bytes of ``handle`` (fewer at its end). In a plain
    file (``tail_at``: where the tail starts) all of it is read again from the newline before
    the tail: one read instead of joining 4 MB to the tail (a copy and fresh pages each time)."""
    if tail_at:
        handle.seek(tail_at - 1)
        buf = handle.read(1 + len(tail) + size)
        if buf[:1] == b"\n" and buf.startswith(tail, 1):
            return buf
        handle.seek(tail_at + len(tail))    # the file changed under us: join what we have
    return b"\n" + tail + handle.read(size)


def _long_lines(buf, at):
    """(start, end) of each line of more than MAX_LINE bytes in ``buf[at:]`` (``at``: where a
    line starts); ``end`` is its newline's offset, or len(buf) for one not ended yet. Such a
    line holds a whole window of MAX_LINE / 2 bytes without a newline: only there is it measured."""
    step = line_reader.MAX_LINE // 2
    size = len(buf)
    while at < size:
        if buf.find(b"\n", at, at + step) >= 0:
            at += step
            continue
        start = buf.rfind(b"\n", 0, at) + 1
        end = buf.find(b"\n", at)
        end = size if end < 0 else end
        if end - start > line_reader.MAX_LINE:
            yield start, end
        at = end + 1


def _union(lists):
    """The permissions of ``lists``, each once, in order of first appearance."""
    out = []
    for perms in lists:
        out.extend(p for p in perms if p not in out)
    return tuple(out)


def _cached(cache, key, make):
    """``cache[key]``, made by ``make(key)`` when missing; a full cache starts over, so that
    memory stays bounded whatever the log holds."""
    value = cache.get(key)
    if value is None:
        if len(cache) >= CACHE_SIZE:
            cache.clear()
        value = cache[key] = make(key)
    return value


def _text(raw):
    """Bytes of the log as the line reader decodes them."""
    return raw.decode("utf-8", line_reader.DECODE_ERRORS)


def _parse_rest(rest):
    return line_reader.parse_avc_rest(_text(rest))   # a tuple, or False


def _parse_perms(raw):
    return line_reader.avc_perms(_text(raw)) or ()


def _syscall_fields(key):
    """The SYSCALL fields an event's denials need, as the line reader keeps them."""
    success, comm, exe = key
    return {"success": success.decode(), "comm": _text(comm), "exe": _text(exe)}


def _record_joins(record):
    """What one CWD/PATH/PROCTITLE record (type, text after the stamp) adds to its event:
    (cwd, paths, argv), as the line reader's join takes it."""
    rtype, text = record
    one = line_reader.Event(None)
    one.join(rtype, _text(text[1:]))
    return one.cwd, tuple(one.paths), one.argv if rtype == "PROCTITLE" else None


def workers():
    # type: () -> int
    """Processes a big log may be split between: the CPUs this process may run on, at most 4."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


def collect_file(reader, path, collection, processes=None):
    """Fold the raw log ``path`` (uncompressed, seekable) into ``collection`` (a
    :class:`.collect.Collection`). A log of more than :data:`PARALLEL_MIN` bytes per process is
    split at event boundaries between forked workers, each folding its part into a collection
    of its own; they are merged in file order, so memory stays bounded by distinct denials."""
    size = os.path.getsize(path)
    count = max(1, min(processes or workers(), size // PARALLEL_MIN))
    starts = _range_starts(path, size, count) if count > 1 else [0, size]
    reader.stats.scanned += 1
    reader.stats.processes = max(reader.stats.processes, len(starts) - 1)
    children = []
    try:
        for index in range(1, len(starts) - 1):
            children.append(_fork_worker(reader, path, starts[index], starts[index + 1], collection))
        with open(path, "rb") as handle:
            collection.add_all(RawScanner(reader, collection.in_scope).read(handle, limit=starts[1]))
        for index, (pid, pipe) in enumerate(children, 1):
            with os.fdopen(pipe, "rb") as incoming:
                data = incoming.read()
            os.waitpid(pid, 0)
            children[index - 1] = (None, None)
            result = pickle.loads(data) if data else None
            if result is None:          # the worker failed: read its part here
                part = collection.empty()
                with open(path, "rb") as handle:
                    handle.seek(starts[index])
                    part.add_all(RawScanner(reader, part.in_scope).read(
                        handle, limit=starts[index + 1] - starts[index]))
                part = part.state()
            else:
                part, stats = result
                for name, value in stats.items():
                    if name not in ("scanned", "processes"):
                        setattr(reader.stats, name, getattr(reader.stats, name) + value)
            collection.merge(part)
    finally:
        for pid, pipe in children:
            if pid is not None:
                os.close(pipe)
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
    return collection


def _fork_worker(reader, path, start, end, collection):
    """(pid, read end of a pipe) of a child that folds ``path[start:end]`` into an empty copy of
    ``collection`` and sends back its state with its counters, pickled (None if it failed)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_end)
        return pid, read_end
    os.close(read_end)
    try:
        from postmulti_selinux.avc.reader import AuditReader
        part_reader = AuditReader(since=reader.since, until=reader.until)
        with open(path, "rb") as handle:
            handle.seek(start)
            part = collection.empty()
            part.add_all(RawScanner(part_reader, part.in_scope).read(handle, limit=end - start))
        stats = dict((k, v) for k, v in part_reader.stats.as_dict().items() if isinstance(v, int))
        payload = pickle.dumps((part.state(), stats), protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:  # noqa: BLE001 - the parent reads this part itself
        payload = pickle.dumps(None)
    try:
        with os.fdopen(write_end, "wb") as out:
            out.write(payload)
    finally:
        os._exit(0)


def _range_starts(path, size, count):
    """Offsets splitting ``path`` into ``count`` parts, each starting at an event's first record.
    The first part (this process's) is :data:`OWN_EXTRA` larger: each worker still has to pickle
    its result when it is done, so that both finish at about the same time."""
    starts = [0]
    share = size / (count + OWN_EXTRA)
    with open(path, "rb") as handle:
        for index in range(1, count):
            at = int((index + OWN_EXTRA) * share)
            handle.seek(at)
            block = handle.read(1 << 16)
            offset = _first_event_start(block)
            if offset is not None and at + offset > starts[-1]:
                starts.append(at + offset)
    return starts + [size]


def _first_event_start(block):
    """Offset in ``block`` (read from the middle of a log) of the first line whose stamp differs
    from the line before it: no event is split there unless its records interleave. None when
    no line starts in it (a part never starts in the middle of a line)."""
    start = block.find(b"\n") + 1
    previous = None
    for _ in range(256):
        end = block.find(b"\n", start)
        if start <= 0 or end < 0:
            break
        stamp = _stamp_of(block, start, end)
        if previous is not None and stamp != previous:
            return start
        previous = stamp
        start = end + 1
    first = block.find(b"\n")
    return first + 1 if first >= 0 else None


def _stamp(raw):
    time, _, serial = raw.partition(b":")
    return Stamp(float(time), int(serial))


def _event_boundary(buf, limit):
    """Where to cut ``buf[:limit]`` so that no event is split: before the last complete event's
    first record (records of one event share a stamp), or after the last newline."""
    if limit <= 1:
        return 0
    end = buf.rfind(b"\n", 0, limit) + 1
    if end <= 1:
        return 0
    cut = buf.rfind(b"\n", 0, end - 1) + 1        # start of the last complete line
    stamp = _stamp_of(buf, cut, end)
    if stamp is None:
        return end
    for _ in range(256):
        previous = buf.rfind(b"\n", 0, cut - 1) + 1
        if previous < 1 or _stamp_of(buf, previous, cut) != stamp:
            return cut
        cut = previous
    return end


def _stamp_of(buf, start, end):
    at = buf.find(b"audit(", start, end)
    if at < 0:
        return None
    close = buf.find(b")", at, end)
    return buf[at + 6:close] if close > 0 else None
