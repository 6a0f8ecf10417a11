/* Optional native walker for the raw-log scanner (scan.py). Pure Python works without it.
 *
 * It reads a buffer exactly as scan.py's _EVENT pattern reads it with findall (the pattern is
 * the definition; tests/avc/test_fastscan.py compares the two on generated and damaged logs),
 * but it does not hand every AVC event back to Python: an event complete in the kernel's
 * layout (one that came with its PROCTITLE or EOE record) is folded here, into a Folder (below)
 * that counts events by everything but their stamp and pid, the same 14 fields as scan._KEY.
 * Everything else stops the walk and is returned, in log order:
 *
 *     walk(buf, pos, end, node, folder) -> (kind, new_pos, newlines, payload)
 *
 * pos is the offset of a '\n' (the pattern starts each match at one); only buf[:end] is read.
 * newlines counts the '\n' in buf[pos:new_pos]. Kinds and payloads:
 *   DONE        None                                      nothing more before end
 *   OTHER       the line (bytes)                          not a record: for the line reader
 *   BLANK       None                                      an empty line
 *   LINE        (line, type, stamp)                       a record that opens an event for
 *                                                         the line reader (AVC laid out otherwise,
 *                                                         USER_AVC, SELINUX_ERR, MAC_POLICY_LOAD …)
 *   INCOMPLETE  (stamp, pid, records, key)                an AVC event without PROCTITLE/EOE:
 *                                                         scan.py decides whether to fold it
 *                                                         (folder.add(stamp, pid, key))
 *   SWITCH      None                                      without node= prefixes (node=0) a line
 *                                                         starting "node=" was met: walk again
 *                                                         from new_pos with node=1
 * Written against the C API of Python 3.6 and later.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { DONE, OTHER, BLANK, LINE, INCOMPLETE, SWITCH };
enum { K_PERMS, K_RESULT, K_REST, K_MORE, K_SUCCESS, K_COMM, K_EXE, K_CWD,
       K_PATH0, K_PATH1, K_PATH2, K_PATH3, K_TITLE, K_EOE, K_FIELDS };

typedef struct { const char *s; Py_ssize_t n; } span;

typedef struct {
    const char *end;    /* the buffer's end (endpos): nothing at or after it is read */
    int node;           /* node= prefixes allowed */
    int saw_node;       /* without them, a line starting "node=" was looked at */
} walker;

typedef struct {
    span stamp, pid, f[K_FIELDS];
    Py_ssize_t records; /* records of the event (EOE not counted, as scan.py counts them) */
    Py_ssize_t lines;   /* lines it spans */
    const char *last;   /* the '\n' (or end) after its last line */
} event;

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_upper_hex(char c) { return is_digit(c) || (c >= 'A' && c <= 'F'); }
static int is_lower_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }
static int is_type_char(char c) { return (c >= 'A' && c <= 'Z') || c == '_'; }

static const char *line_end(const walker *w, const char *p)
{
    const char *q = memchr(p, '\n', (size_t)(w->end - p));
    return q ? q : w->end;
}

/* p + len(lit) if the text at p starts with lit, else NULL. */
static const char *literal(const walker *w, const char *p, const char *lit, Py_ssize_t n)
{
    if (p == NULL || w->end - p < n || memcmp(p, lit, (size_t)n) != 0)
        return NULL;
    return p + n;
}
#define LIT(w, p, s) literal((w), (p), (s), (Py_ssize_t)(sizeof(s) - 1))

/* The start of a line's record text: after "node=[^ \n]{1,255} " when prefixes are allowed.
 * Without them a line starting "node=" is only noted (the caller walks again with them). */
static const char *record_start(walker *w, const char *p)
{
    if (w->end - p >= 5 && memcmp(p, "node=", 5) == 0) {
        const char *q = p + 5;
        if (!w->node) {
            w->saw_node = 1;
            return p;
        }
        while (q < w->end && q - p < 5 + 256 && *q != ' ' && *q != '\n')
            q++;
        if (q - (p + 5) >= 1 && q - (p + 5) <= 255 && q < w->end && *q == ' ')
            return q + 1;
    }
    return p;
}

/* One of two words at p, kept in *out: the end of it, or NULL. */
static const char *either(const walker *w, const char *p, const char *a, const char *b, span *out)
{
    const char *q;
    if (p == NULL)
        return NULL;
    if ((q = literal(w, p, a, (Py_ssize_t)strlen(a))) == NULL
            && (q = literal(w, p, b, (Py_ssize_t)strlen(b))) == NULL)
        return NULL;
    out->s = p;
    out->n = q - p;
    return q;
}

/* " msg=audit(STAMP):" at p (the stamp as the event's). */
static const char *same_stamp(const walker *w, const char *p, span stamp)
{
    p = LIT(w, p, " msg=audit(");
    p = literal(w, p, stamp.s, stamp.n);
    return LIT(w, p, "):");
}

/* A record of the event's stamp on the line starting at p ('\n' before it), of type rtype:
 * the text after "):" (its end through *last), or NULL. */
static const char *same_record(walker *w, const char *p, const char *rtype, Py_ssize_t n,
                               span stamp, const char **last)
{
    const char *q;
    if (p >= w->end)
        return NULL;
    q = record_start(w, p);
    q = LIT(w, q, "type=");
    q = literal(w, q, rtype, n);
    q = same_stamp(w, q, stamp);
    if (q == NULL)
        return NULL;
    *last = line_end(w, q);
    return q;
}

/* An optional record whose text after the stamp must begin with a space (captured with it). */
static int optional_record(walker *w, const char **lineend, const char *rtype, span stamp,
                           span *out, event *ev)
{
    const char *last = NULL;
    const char *q = same_record(w, *lineend + 1, rtype, (Py_ssize_t)strlen(rtype), stamp, &last);
    if (q == NULL || q >= w->end || *q != ' ')
        return 0;
    out->s = q;
    out->n = last - q;
    *lineend = last;
    ev->records++;
    ev->lines++;
    return 1;
}

/* SYSCALL's comm=/exe= value: "quoted", or hex digits, (null) or ? followed by a space. */
static const char *value(const walker *w, const char *p, const char *lineend)
{
    const char *q;
    if (p >= lineend)
        return NULL;
    if (*p == '"') {
        q = memchr(p + 1, '"', (size_t)(lineend - p - 1));
        return q ? q + 1 : NULL;
    }
    q = p;
    if (is_upper_hex(*q)) {
        while (q < lineend && is_upper_hex(*q))
            q++;
    } else if ((q = LIT(w, p, "(null)")) == NULL && (q = LIT(w, p, "?")) == NULL) {
        return NULL;
    }
    return (q < lineend && *q == ' ') ? q : NULL;
}

static const char *const READ_TYPES[] = {"AVC", "USER_AVC", "SELINUX_ERR", "USER_SELINUX_ERR",
    "MAC_POLICY_LOAD", "SYSCALL", "CWD", "PATH", "PROCTITLE", "EOE", NULL};
static const char *const OPENERS[] = {"AVC", "USER_AVC", "SELINUX_ERR", "USER_SELINUX_ERR",
    "MAC_POLICY_LOAD", NULL};

/* A run of chars of a class, at least 1 and at most max long; its end, or NULL. */
static const char *run(const walker *w, const char *p, int (*in)(char), Py_ssize_t max)
{
    const char *q = p;
    if (p == NULL)
        return NULL;
    while (q < w->end && q - p <= max && in(*q))
        q++;
    return (q - p >= 1 && q - p <= max) ? q : NULL;
}

static int is_type_or_digit(char c) { return is_type_char(c) || is_digit(c); }

/* The line at p is "type=[A-Z_]{1,32}" (or [A-Z0-9_] with digits) then " msg=audit(STAMP):". */
static const char *typed_record(walker *w, const char *p, span stamp, int digits,
                                const char **type_start, const char **type_end)
{
    const char *q = record_start(w, p), *t;
    q = LIT(w, q, "type=");
    t = run(w, q, digits ? is_type_or_digit : is_type_char, 32);
    if (t == NULL)
        return NULL;
    if (type_start) {
        *type_start = q;
        *type_end = t;
    }
    return same_stamp(w, t, stamp);
}

static int is_read_type(const char *s, Py_ssize_t n)
{
    int i;
    for (i = 0; READ_TYPES[i]; i++)
        if ((Py_ssize_t)strlen(READ_TYPES[i]) == n && memcmp(s, READ_TYPES[i], (size_t)n) == 0)
            return 1;
    return 0;
}

/* The AVC event starting on the line at p, in the kernel's layout; 1 if it is one. */
static int avc_event(walker *w, const char *p, event *ev)
{
    const char *q = record_start(w, p), *le, *last, *s, *c;
    int i;
    q = LIT(w, q, "type=AVC msg=audit(");
    if (q == NULL)
        return 0;
    memset(ev, 0, sizeof(*ev));
    ev->stamp.s = q;
    q = run(w, q, is_digit, 20);
    q = LIT(w, q, ".");
    q = run(w, q, is_digit, 9);
    q = LIT(w, q, ":");
    q = run(w, q, is_digit, 20);
    if (q == NULL)
        return 0;
    ev->stamp.n = q - ev->stamp.s;
    q = LIT(w, q, "): avc:  ");
    s = either(w, q, "denied", "granted", &ev->f[K_RESULT]);
    q = LIT(w, s, "  {");
    if (q == NULL)
        return 0;
    ev->f[K_PERMS].s = q;
    while (q < w->end && q - ev->f[K_PERMS].s <= 4096 && *q != '{' && *q != '}' && *q != '\n')
        q++;
    ev->f[K_PERMS].n = q - ev->f[K_PERMS].s;
    if (ev->f[K_PERMS].n < 1 || ev->f[K_PERMS].n > 4096)
        return 0;
    q = LIT(w, q, "} for  pid=");
    ev->pid.s = q;
    q = run(w, q, is_digit, 10);
    q = LIT(w, q, " ");
    if (q == NULL)
        return 0;
    ev->pid.n = q - 1 - ev->pid.s;
    le = line_end(w, q);
    ev->f[K_REST].s = q;
    ev->f[K_REST].n = le - q;
    ev->records = 1;
    ev->lines = 1;
    /* More AVC records of the same stamp. */
    ev->f[K_MORE].s = le;
    while (le < w->end && same_record(w, le + 1, "AVC", 3, ev->stamp, &last)) {
        le = last;
        ev->records++;
        ev->lines++;
    }
    ev->f[K_MORE].n = le - ev->f[K_MORE].s;
    /* The SYSCALL record. */
    if (le >= w->end)
        return 0;
    q = same_record(w, le + 1, "SYSCALL", 7, ev->stamp, &last);
    q = LIT(w, q, " arch=");
    q = run(w, q, is_lower_hex, PY_SSIZE_T_MAX / 2);
    q = LIT(w, q, " syscall=");
    q = run(w, q, is_digit, PY_SSIZE_T_MAX / 2);
    q = LIT(w, q, " ");
    if (q == NULL)
        return 0;
    if ((s = LIT(w, q, "per=")) != NULL && (s = run(w, s, is_lower_hex, PY_SSIZE_T_MAX / 2)) != NULL
            && (s = LIT(w, s, " ")) != NULL)
        q = s;
    q = LIT(w, q, "success=");
    s = either(w, q, "yes", "no", &ev->f[K_SUCCESS]);
    s = LIT(w, s, " ");
    if (s == NULL)
        return 0;
    le = last;
    /* The last " comm=V exe=V" of the line (the pattern's [^\n]* before it is greedy). */
    for (c = le - 6; c >= s; c--) {
        const char *v1, *e1, *v2, *e2;
        if (*c != ' ' || memcmp(c, " comm=", 6) != 0)
            continue;
        v1 = c + 6;
        e1 = value(w, v1, le);
        v2 = LIT(w, e1, " exe=");
        e2 = v2 ? value(w, v2, le) : NULL;
        if (e2 == NULL)
            continue;
        ev->f[K_COMM].s = v1;
        ev->f[K_COMM].n = e1 - v1;
        ev->f[K_EXE].s = v2;
        ev->f[K_EXE].n = e2 - v2;
        break;
    }
    if (ev->f[K_EXE].s == NULL)
        return 0;
    ev->records++;
    ev->lines++;
    /* Up to 16 records the line reader ignores. */
    for (i = 0; i < 16 && le < w->end; i++) {
        const char *ts, *te;
        q = typed_record(w, le + 1, ev->stamp, 0, &ts, &te);
        if (q == NULL || is_read_type(ts, te - ts))
            break;
        le = line_end(w, q);
        ev->records++;
        ev->lines++;
    }
    /* CWD, four PATH, PROCTITLE, EOE: each optional, in this order. */
    if (le < w->end) {
        static const char *const JOINS[] = {"CWD", "PATH", "PATH", "PATH", "PATH", "PROCTITLE"};
        for (i = 0; i < 6 && le < w->end; i++)
            optional_record(w, &le, JOINS[i], ev->stamp, &ev->f[K_CWD + i], ev);
    }
    if (le < w->end) {
        q = record_start(w, le + 1);
        q = LIT(w, q, "type=EOE msg=audit(");
        q = literal(w, q, ev->stamp.s, ev->stamp.n);
        q = LIT(w, q, ")");
        if (q != NULL && q < w->end && *q == ':') {
            ev->f[K_EOE].s = q;
            ev->f[K_EOE].n = 1;
            le = line_end(w, q);
            ev->lines++;
        }
    }
    /* The next line must not carry the same stamp. */
    if (le < w->end && typed_record(w, le + 1, ev->stamp, 1, NULL, NULL) != NULL)
        return 0;
    ev->last = le;
    return 1;
}

/* A record that opens an event for the line reader: its type (index into OPENERS) and stamp. */
static int opener(walker *w, const char *p, span *type, span *stamp)
{
    const char *q = LIT(w, record_start(w, p), "type="), *s;
    int i;
    if (q == NULL)
        return 0;
    for (i = 0; OPENERS[i]; i++) {
        s = literal(w, q, OPENERS[i], (Py_ssize_t)strlen(OPENERS[i]));
        s = LIT(w, s, " msg=audit(");
        if (s == NULL)
            continue;
        type->s = q;
        type->n = (Py_ssize_t)strlen(OPENERS[i]);
        stamp->s = s;
        while (s < w->end && s - stamp->s <= 64 && *s != '(' && *s != ')' && *s != '\n')
            s++;
        stamp->n = s - stamp->s;
        return stamp->n >= 1 && stamp->n <= 64 && s < w->end && *s == ')';
    }
    return 0;
}

/* The line at p starts like a record: "type=[A-Z_]+ msg=audit([^()\n]{1,64}):". */
static int any_record(walker *w, const char *p)
{
    const char *q = LIT(w, record_start(w, p), "type="), *s;
    q = run(w, q, is_type_char, PY_SSIZE_T_MAX / 2);
    q = LIT(w, q, " msg=audit(");
    if (q == NULL)
        return 0;
    s = q;
    while (s < w->end && s - q <= 64 && *s != '(' && *s != ')' && *s != '\n')
        s++;
    return s - q >= 1 && s - q <= 64 && LIT(w, s, "):") != NULL;
}

static PyObject *bytes_of(span s)
{
    return PyBytes_FromStringAndSize(s.s ? s.s : "", s.s ? s.n : 0);
}

static PyObject *key_tuple(const span *f, Py_ssize_t from)
{
    PyObject *out = PyTuple_New(K_FIELDS - from), *item;
    Py_ssize_t i;
    if (out == NULL)
        return NULL;
    for (i = from; i < K_FIELDS; i++) {
        if ((item = bytes_of(f[i])) == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, i - from, item);
    }
    return out;
}

/* -- the fold -------------------------------------------------------------------------------
 * Events are folded by their key without the permission list (the "inner" key: 13 fields,
 * joined by newlines; only "more" can hold newlines and it sits between fixed fields, so the
 * join is unambiguous), and within one inner key by permission list: the Python side merges
 * an inner key's lists into one denial (scan.RawScanner.flush). drain() gives, in order of
 * first appearance:  [(inner key tuple, [[perms, stamp, pid, count], …]), …]
 * Until then everything is kept in C memory: an arena holding each inner key right after its
 * header (so that a lookup reads one place), an array of permission lists, and an
 * open-addressing table of inner keys hashed with a per-process random seed. */
typedef struct {
    uint64_t hash;
    Py_ssize_t size;                    /* of the joined key, which follows this header */
    Py_ssize_t lens[K_FIELDS - 1];      /* of its fields */
    Py_ssize_t first, last;             /* its permission lists (indexes into variants) */
} entry_head;

typedef struct {
    size_t text;                        /* arena offset of the perms, stamp and pid texts */
    Py_ssize_t perms, stamp, pid;       /* their lengths */
    Py_ssize_t count, next;             /* events; the entry's next list, or -1 */
} variant;

typedef struct {
    PyObject_HEAD
    uint64_t seed;
    size_t mask;            /* table slots - 1 (a power of two) */
    uint64_t *hashes;       /* per slot: 0 if empty */
    size_t *where;          /* per slot: arena offset of its entry */
    char *arena;
    size_t used, size;
    size_t *order;          /* arena offsets of the entries, in order of first appearance */
    Py_ssize_t entries, order_size;
    variant *variants;
    Py_ssize_t nvariants, variants_size;
    char *scratch;
    size_t scratch_size;
} Folder;

#define FIRST_SLOTS 1024

static uint64_t hash_bytes(uint64_t seed, const char *s, size_t n)
{
    uint64_t h = seed ^ (n * 0x9E3779B97F4A7C15ULL), w;
    while (n >= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ULL;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0x94D049BB133111EBULL;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 32;
    return h | 1;           /* never 0: 0 marks an empty slot */
}

/* Grow *buf (of *size bytes) to hold at least need bytes. 0, or -1 with MemoryError. */
static int reserve(void **buf, size_t *size, size_t need)
{
    size_t bigger = *size ? *size : 4096;
    void *grown;
    if (need <= *size)
        return 0;
    while (bigger < need)
        bigger *= 2;
    grown = PyMem_Realloc(*buf, bigger);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *buf = grown;
    *size = bigger;
    return 0;
}

/* Room for n bytes in the arena (8-byte aligned): its offset, or (size_t)-1. */
static size_t arena_take(Folder *self, size_t n)
{
    size_t at = (self->used + 7) & ~(size_t)7;
    if (reserve((void **)&self->arena, &self->size, at + n) < 0)
        return (size_t)-1;
    self->used = at + n;
    return at;
}

/* A new table of slots: the entries' slots again if keep (the table grows), else empty. */
static int retable(Folder *self, size_t slots, int keep)
{
    size_t i, at;
    uint64_t *hashes = PyMem_Calloc(slots, sizeof(uint64_t));
    size_t *where = PyMem_Malloc(slots * sizeof(size_t));
    if (hashes == NULL || where == NULL) {
        PyMem_Free(hashes);
        PyMem_Free(where);
        PyErr_NoMemory();
        return -1;
    }
    for (i = 0; keep && i <= self->mask; i++) {
        if (!self->hashes[i])
            continue;
        for (at = self->hashes[i] & (slots - 1); hashes[at]; at = (at + 1) & (slots - 1))
            ;
        hashes[at] = self->hashes[i];
        where[at] = self->where[i];
    }
    PyMem_Free(self->hashes);
    PyMem_Free(self->where);
    self->hashes = hashes;
    self->where = where;
    self->mask = slots - 1;
    return 0;
}

static int folder_clear(Folder *self)
{
    self->used = 0;
    self->entries = 0;
    self->nvariants = 0;
    return retable(self, FIRST_SLOTS, 0);
}

static Py_ssize_t new_variant(Folder *self, span perms, span stamp, span pid)
{
    size_t text = arena_take(self, (size_t)(perms.n + stamp.n + pid.n));
    size_t bytes = self->variants_size * sizeof(variant);
    variant *v;
    if (text == (size_t)-1)
        return -1;
    if (reserve((void **)&self->variants, &bytes, (self->nvariants + 1) * sizeof(variant)) < 0)
        return -1;
    self->variants_size = (Py_ssize_t)(bytes / sizeof(variant));
    memcpy(self->arena + text, perms.s, (size_t)perms.n);
    memcpy(self->arena + text + perms.n, stamp.s, (size_t)stamp.n);
    memcpy(self->arena + text + perms.n + stamp.n, pid.s, (size_t)pid.n);
    v = &self->variants[self->nvariants];
    v->text = text;
    v->perms = perms.n;
    v->stamp = stamp.n;
    v->pid = pid.n;
    v->count = 1;
    v->next = -1;
    return self->nvariants++;
}

/* Count one event (fields f, its stamp and pid) into the folder. 0, or -1 with an exception. */
static int folder_add(Folder *self, const span *f, span stamp, span pid)
{
    size_t size = K_FIELDS - 2, at, where;
    Py_ssize_t i, v, created;
    uint64_t h;
    char *to;
    entry_head *head = NULL;
    span perms = f[K_PERMS];
    if (perms.s == NULL) {
        perms.s = "";
        perms.n = 0;
    }
    for (i = 1; i < K_FIELDS; i++)
        size += f[i].s ? (size_t)f[i].n : 0;
    if (reserve((void **)&self->scratch, &self->scratch_size, size + 1) < 0)
        return -1;
    to = self->scratch;
    for (i = 1; i < K_FIELDS; i++) {
        if (i > 1)
            *to++ = '\n';
        if (f[i].s && f[i].n) {
            memcpy(to, f[i].s, (size_t)f[i].n);
            to += f[i].n;
        }
    }
    h = hash_bytes(self->seed, self->scratch, size);
    for (at = h & self->mask; self->hashes[at]; at = (at + 1) & self->mask) {
        entry_head *candidate;
        if (self->hashes[at] != h)
            continue;
        candidate = (entry_head *)(self->arena + self->where[at]);
        if ((size_t)candidate->size == size && memcmp(candidate + 1, self->scratch, size) == 0) {
            head = candidate;
            break;
        }
    }
    if (head != NULL) {
        for (v = head->first; v >= 0; v = self->variants[v].next) {
            variant *known = &self->variants[v];
            if (known->perms == perms.n && memcmp(self->arena + known->text, perms.s, (size_t)perms.n) == 0) {
                known->count++;
                return 0;
            }
        }
        where = (size_t)((char *)head - self->arena);
        if ((created = new_variant(self, perms, stamp, pid)) < 0)
            return -1;
        head = (entry_head *)(self->arena + where);     /* the arena may have moved */
        self->variants[head->last].next = created;
        head->last = created;
        return 0;
    }
    where = arena_take(self, sizeof(entry_head) + size);
    if (where == (size_t)-1)
        return -1;
    {
        size_t bytes = (size_t)self->order_size * sizeof(size_t);
        if (reserve((void **)&self->order, &bytes, (size_t)(self->entries + 1) * sizeof(size_t)) < 0)
            return -1;
        self->order_size = (Py_ssize_t)(bytes / sizeof(size_t));
    }
    if ((created = new_variant(self, perms, stamp, pid)) < 0)
        return -1;
    head = (entry_head *)(self->arena + where);
    head->hash = h;
    head->size = (Py_ssize_t)size;
    for (i = 1; i < K_FIELDS; i++)
        head->lens[i - 1] = f[i].s ? f[i].n : 0;
    head->first = head->last = created;
    memcpy(head + 1, self->scratch, size);
    self->order[self->entries++] = where;
    self->hashes[at] = h;
    self->where[at] = where;
    if ((size_t)self->entries * 2 > self->mask && retable(self, (self->mask + 1) * 2, 1) < 0)
        return -1;
    return 0;
}

static PyTypeObject FolderType;

static int Folder_init(Folder *self, PyObject *args, PyObject *kwds)
{
    unsigned long long seed;
    static char *names[] = {"seed", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "K", names, &seed))
        return -1;
    self->seed = (uint64_t)seed;
    return folder_clear(self);
}

static void Folder_dealloc(Folder *self)
{
    PyMem_Free(self->hashes);
    PyMem_Free(self->where);
    PyMem_Free(self->arena);
    PyMem_Free(self->order);
    PyMem_Free(self->variants);
    PyMem_Free(self->scratch);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static Py_ssize_t Folder_len(Folder *self)
{
    return self->entries;
}

static PyObject *Folder_add(Folder *self, PyObject *args)
{
    PyObject *key;
    span f[K_FIELDS], stamp, pid;
    Py_ssize_t i;
    if (!PyArg_ParseTuple(args, "y#y#O!", &stamp.s, &stamp.n, &pid.s, &pid.n, &PyTuple_Type, &key))
        return NULL;
    if (self->hashes == NULL || PyTuple_GET_SIZE(key) != K_FIELDS) {
        PyErr_SetString(PyExc_ValueError, "a key of 14 fields is needed");
        return NULL;
    }
    for (i = 0; i < K_FIELDS; i++) {
        PyObject *item = PyTuple_GET_ITEM(key, i);
        if (!PyBytes_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "key fields must be bytes");
            return NULL;
        }
        f[i].s = PyBytes_AS_STRING(item);
        f[i].n = PyBytes_GET_SIZE(item);
    }
    if (folder_add(self, f, stamp, pid) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* (inner key tuple, [[perms, stamp, pid, count], …]) of the entry at arena offset where. */
static PyObject *entry_object(Folder *self, size_t where)
{
    entry_head *head = (entry_head *)(self->arena + where);
    const char *text = (const char *)(head + 1);
    PyObject *inner = PyTuple_New(K_FIELDS - 1), *lists = PyList_New(0), *item;
    Py_ssize_t i, v;
    if (inner == NULL || lists == NULL)
        goto fail;
    for (i = 0; i < K_FIELDS - 1; i++) {
        if ((item = PyBytes_FromStringAndSize(text, head->lens[i])) == NULL)
            goto fail;
        PyTuple_SET_ITEM(inner, i, item);
        text += head->lens[i] + 1;
    }
    for (v = head->first; v >= 0; v = self->variants[v].next) {
        variant *known = &self->variants[v];
        const char *t = self->arena + known->text;
        item = Py_BuildValue("[y#y#y#n]", t, known->perms, t + known->perms, known->stamp,
                             t + known->perms + known->stamp, known->pid, known->count);
        if (item == NULL || PyList_Append(lists, item) < 0) {
            Py_XDECREF(item);
            goto fail;
        }
        Py_DECREF(item);
    }
    return Py_BuildValue("(NN)", inner, lists);
fail:
    Py_XDECREF(inner);
    Py_XDECREF(lists);
    return NULL;
}

static PyObject *Folder_drain(Folder *self, PyObject *unused)
{
    PyObject *out;
    Py_ssize_t i;
    (void)unused;
    if (self->hashes == NULL) {
        PyErr_SetString(PyExc_ValueError, "folder not initialised");
        return NULL;
    }
    out = PyList_New(self->entries);
    if (out == NULL)
        return NULL;
    for (i = 0; i < self->entries; i++) {
        PyObject *entry = entry_object(self, self->order[i]);
        if (entry == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, entry);
    }
    if (folder_clear(self) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

static PyMethodDef Folder_methods[] = {
    {"add", (PyCFunction)Folder_add, METH_VARARGS,
     "add(stamp, pid, key): fold one event (key: its 14 fields, as the walker returns them)"},
    {"drain", (PyCFunction)Folder_drain, METH_NOARGS,
     "drain() -> [(inner key, [[perms, stamp, pid, count], ...]), ...] in order of first "
     "appearance; the folder is empty afterwards"},
    {NULL, NULL, 0, NULL}
};

static PySequenceMethods Folder_as_sequence = {(lenfunc)Folder_len};

static PyTypeObject FolderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    "postmulti_selinux.avc._fastscan.Folder",   /* tp_name */
    sizeof(Folder),                             /* tp_basicsize */
};

static PyObject *result(int kind, const char *base, const char *pos, Py_ssize_t newlines,
                        PyObject *payload)
{
    if (payload == NULL)
        return NULL;
    return Py_BuildValue("(innN)", kind, (Py_ssize_t)(pos - base), newlines, payload);
}

static PyObject *walk(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t pos, endpos, newlines = 0;
    int node;
    PyObject *folder, *out = NULL;
    walker w;
    const char *base, *nl;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nnpO!", &view, &pos, &endpos, &node, &FolderType, &folder))
        return NULL;
    base = (const char *)view.buf;
    if (endpos > view.len)
        endpos = view.len;
    if (pos < 0 || pos > endpos) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "pos out of range");
        return NULL;
    }
    w.end = base + endpos;
    w.node = node;
    nl = base + pos;
    for (;;) {
        const char *p, *le;
        event ev;
        span type, stamp;
        /* Find the next '\n' at or after nl: the pattern starts each match at one. */
        if (nl < w.end && *nl != '\n') {
            const char *q = memchr(nl, '\n', (size_t)(w.end - nl));
            nl = q ? q : w.end;
        }
        if (nl >= w.end || nl + 1 >= w.end) {
            if (nl < w.end)
                newlines++;
            out = result(DONE, base, w.end, newlines, (Py_INCREF(Py_None), Py_None));
            break;
        }
        p = nl + 1;
        w.saw_node = 0;
        if (!w.node && w.end - p >= 5 && memcmp(p, "node=", 5) == 0) {
            out = result(SWITCH, base, nl, newlines, (Py_INCREF(Py_None), Py_None));
            break;
        }
        if (avc_event(&w, p, &ev) && !w.saw_node) {
            if (ev.f[K_TITLE].s || ev.f[K_EOE].s) {
                if (folder_add((Folder *)folder, ev.f, ev.stamp, ev.pid) < 0)
                    break;
                newlines += ev.lines;
                nl = ev.last;
                continue;
            }
            out = result(INCOMPLETE, base, ev.last, newlines + ev.lines,
                         Py_BuildValue("(NNnN)", bytes_of(ev.stamp), bytes_of(ev.pid), ev.records,
                                       key_tuple(ev.f, 0)));
            break;
        }
        if (w.saw_node) {
            out = result(SWITCH, base, nl, newlines, (Py_INCREF(Py_None), Py_None));
            break;
        }
        le = line_end(&w, p);
        if (opener(&w, p, &type, &stamp)) {
            span line;
            line.s = p;
            line.n = le - p;
            out = result(LINE, base, le, newlines + 1,
                         Py_BuildValue("(NNN)", bytes_of(line), bytes_of(type), bytes_of(stamp)));
            break;
        }
        if (any_record(&w, p)) {
            newlines++;
            nl = le;
            continue;
        }
        if (*p == '\n') {
            out = result(BLANK, base, p, newlines + 1, (Py_INCREF(Py_None), Py_None));
            break;
        }
        {
            span line;
            line.s = p;
            line.n = le - p;
            out = result(OTHER, base, le, newlines + 1, bytes_of(line));
        }
        break;
    }
    PyBuffer_Release(&view);
    return out;
}

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS, "walk(buf, pos, end, node, folder) -> (kind, pos, newlines, payload)"},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastscan", "Native walker for postmulti_selinux.avc.scan.", -1, methods,
    NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC PyInit__fastscan(void)
{
    PyObject *m;
    FolderType.tp_flags = Py_TPFLAGS_DEFAULT;
    FolderType.tp_doc = "Events folded by key (see the module's source).";
    FolderType.tp_new = PyType_GenericNew;
    FolderType.tp_init = (initproc)Folder_init;
    FolderType.tp_dealloc = (destructor)Folder_dealloc;
    FolderType.tp_methods = Folder_methods;
    FolderType.tp_as_sequence = &Folder_as_sequence;
    if (PyType_Ready(&FolderType) < 0)
        return NULL;
    m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&FolderType);
    if (PyModule_AddObject(m, "Folder", (PyObject *)&FolderType) < 0) {
        Py_DECREF(&FolderType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "DONE", DONE) < 0 || PyModule_AddIntConstant(m, "OTHER", OTHER) < 0
            || PyModule_AddIntConstant(m, "BLANK", BLANK) < 0 || PyModule_AddIntConstant(m, "LINE", LINE) < 0
            || PyModule_AddIntConstant(m, "INCOMPLETE", INCOMPLETE) < 0
            || PyModule_AddIntConstant(m, "SWITCH", SWITCH) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
