"""The rules of a policy's domains, kept on disk between runs.

Reading every TE rule of a binary policy to find a domain's takes about half a second with
setools (seconds with the ``sesearch`` tool on EL7), and a policy changes rarely. The answers
are stored in a JSON file named by the SHA-256 of the policy file, so a changed policy never
reads a stale file. Only files that this user or root owns and that no one else may write are
trusted; anything unreadable or malformed is ignored and rebuilt. The cache is an optimisation:
no failure to read or write it is an error.
"""

import hashlib
import json
import os
import tempfile

FORMAT = 1
ENV = "POSTMULTI_SELINUX_CACHE_DIR"


def cache_dir():
    # type: () -> str
    """``$POSTMULTI_SELINUX_CACHE_DIR``, else /var/cache/postmulti-selinux (root) or ~/.cache/…."""
    if os.environ.get(ENV):
        return os.path.join(os.environ[ENV], "policy-index")
    if os.geteuid() == 0:
        return "/var/cache/postmulti-selinux/policy-index"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "postmulti-selinux", "policy-index")


def _digest(path):
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _trusted(path):
    """Owned by root or by us, and writable by no one else (nor is its directory)."""
    for item in (os.path.dirname(path), path):
        try:
            info = os.stat(item)
        except OSError:
            return False
        if info.st_uid not in (0, os.geteuid()) or info.st_mode & 0o022:
            return False
    return True


class IndexCache(object):
    """Rules per domain and attributes per type of one policy file (see the module text)."""

    def __init__(self, policy_path, backend, directory=None):
        self.path = None
        self.dirty = False
        self.hits = self.misses = 0     # answers found in / added to the index this run
        self._data = {"domains": {}, "attributes": {}, "answers": {}}
        try:
            name = "{}-{}-v{}.json".format(_digest(policy_path), backend, FORMAT)
        except (IOError, OSError):
            return
        self.path = os.path.join(directory or cache_dir(), name)
        self._data = self._load()

    def _load(self):
        empty = {"domains": {}, "attributes": {}, "answers": {}}
        if not _trusted(self.path):
            return empty
        try:
            with open(self.path) as handle:
                data = json.load(handle)
        except (IOError, OSError, ValueError):
            return empty
        if not (isinstance(data, dict) and all(isinstance(data.get(k), dict) for k in empty)):
            return empty
        return data

    def rules(self, domain):
        """The stored rule rows of ``domain`` (lists of plain values), or None."""
        rows = self._data["domains"].get(domain)
        return self._counted(rows if isinstance(rows, list) else None)

    def _counted(self, value):
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def describe(self):
        # type: () -> str
        """One line for --verbose: where the index is and how much of it was used."""
        if self.path is None:
            return "no policy-rule index (policy file unreadable)"
        return "policy-rule index {}: {} answers from it, {} read from the policy".format(
            self.path, self.hits, self.misses)

    def put_rules(self, domain, rows):
        self._data["domains"][domain] = rows
        self.dirty = True

    def attributes(self, name):
        attrs = self._data["attributes"].get(name)
        return self._counted(attrs if isinstance(attrs, list) else None)

    def put_attributes(self, name, attrs):
        self._data["attributes"][name] = sorted(attrs)
        self.dirty = True

    def answer(self, key):
        """(value,) of a stored answer such as ``role_types:unconfined_r``, or None."""
        stored = self._data["answers"].get(key)
        return self._counted((stored["value"],) if isinstance(stored, dict) and "value" in stored else None)

    def put_answer(self, key, value):
        self._data["answers"][key] = {"value": value}
        self.dirty = True

    def save(self):
        """Write what was added (atomically: a temp file renamed over the old one)."""
        if not (self.dirty and self.path):
            return
        directory = os.path.dirname(self.path)
        try:
            os.makedirs(directory, mode=0o755, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".index-")
            try:
                with os.fdopen(fd, "w") as handle:
                    json.dump(self._data, handle, separators=(",", ":"), sort_keys=True)
                os.chmod(tmp, 0o644)
                os.replace(tmp, self.path)
            except BaseException:
                os.unlink(tmp)
                raise
            self.dirty = False
        except (IOError, OSError):
            pass
