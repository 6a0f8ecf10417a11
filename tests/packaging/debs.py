"""Build the project's .deb (debian/) from a temp copy of the working tree.

    from tests.packaging.debs import build_deb
    deb = build_deb(outdir)        # -> outdir/postmulti-selinux_VERSION_all.deb

    python3 -m tests.packaging.debs [OUTDIR]    (make deb: OUTDIR dist/)

The working tree is copied (without .git, .venv, build/, dist/, *.egg-info, __pycache__, test
and debhelper leftovers) to a temp directory and built there with ``dpkg-buildpackage -us -uc
-b``, so nothing is ever written into the tree. The result is cached by a key that hashes every
copied file (path, mode, content) and the versions of the build tools: a second call, from this
process or any other, with the tree unchanged copies the cached .deb (well under a second).
Callers in several processes (pytest-xdist workers, the VM test bed) are serialised by a file
lock, so the package is built once. The cache lives in $PMS_DEB_CACHE, else
/var/cache/postmulti-selinux/deb (as root) or a per-user temp directory; the newest few builds
are kept.
"""

import fcntl
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = "postmulti-selinux"
# The tools a build needs (Makefile DEB_PACKAGES installs them); their versions are in the key.
BUILD_TOOLS = ("dpkg-dev", "debhelper", "dh-python", "pybuild-plugin-pyproject", "python3-all",
               "python3-setuptools", "python3-wheel")
# Not copied: version control, local environments, build output, caches, in-tree debhelper runs.
EXCLUDE_NAMES = {".git", ".venv", "__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache",
                 ".tox", ".eggs"}
EXCLUDE_TOP = {"build", "dist", "out", os.path.join("vagrant", ".vagrant"),
               os.path.join("debian", ".debhelper"), os.path.join("debian", PACKAGE),
               os.path.join("debian", "tmp"), os.path.join("debian", "files"),
               os.path.join("debian", "debhelper-build-stamp")}
EXCLUDE_SUFFIXES = (".egg-info", ".pyc", ".so", ".substvars", ".debhelper.log")
KEEP = 3  # cached builds kept
# A clean PATH: dpkg-buildpackage and pybuild must find the distribution's python3, not a venv's
# or a pyenv shim's.
BUILD_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

_BUILT = {}  # key -> cached .deb, this process


def _excluded(rel):
    # type: (str) -> bool
    name = os.path.basename(rel)
    return (name in EXCLUDE_NAMES or rel in EXCLUDE_TOP or name.endswith(EXCLUDE_SUFFIXES))


def tree_files(root=ROOT):
    # type: (str) -> list
    """The relative paths copied into the build, sorted (directories pruned as excluded)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir
        dirnames[:] = sorted(d for d in dirnames if not _excluded(os.path.join(rel_dir, d)))
        for name in filenames:
            rel = os.path.join(rel_dir, name)
            if not _excluded(rel):
                found.append(rel)
        # Symbolic links to directories are not followed by os.walk: copy them as links.
        found.extend(os.path.join(rel_dir, d) for d in dirnames
                     if os.path.islink(os.path.join(dirpath, d)))
    return sorted(found)


def _tool_versions():
    # type: () -> str
    result = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n"] +
                            list(BUILD_TOOLS), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True)
    return result.stdout


def tree_key(files, root=ROOT):
    # type: (list, str) -> str
    digest = hashlib.sha256(_tool_versions().encode())
    for rel in files:
        path = os.path.join(root, rel)
        info = os.lstat(path)
        digest.update("{}\0{:o}\0".format(rel, stat.S_IMODE(info.st_mode) & 0o111).encode())
        if stat.S_ISLNK(info.st_mode):
            digest.update(os.readlink(path).encode())
        else:
            with open(path, "rb") as handle:
                digest.update(handle.read())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def cache_dir():
    # type: () -> str
    if os.environ.get("PMS_DEB_CACHE"):
        return os.environ["PMS_DEB_CACHE"]
    if os.geteuid() == 0:
        return "/var/cache/postmulti-selinux/deb"
    return os.path.join(tempfile.gettempdir(), "postmulti-selinux-deb-{}".format(os.getuid()))


def missing_tools():
    # type: () -> list
    """The build commands that are not installed (the Makefile's deps target installs them)."""
    return [tool for tool in ("dpkg-buildpackage", "dh", "dh_python3", "dpkg-checkbuilddeps")
            if not shutil.which(tool, path=BUILD_PATH)]


def _copy_tree(files, dest, root=ROOT):
    # type: (list, str, str) -> None
    for rel in files:
        src, dst = os.path.join(root, rel), os.path.join(dest, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)


def _build(files, key, cache):
    # type: (list, str, str) -> str
    """dpkg-buildpackage in a temp copy; the .deb (and the build log) moved into cache/key/."""
    work = tempfile.mkdtemp(prefix="pms-deb-")
    try:
        src = os.path.join(work, PACKAGE)
        _copy_tree(files, src)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PYENV", "PIP_", "DEB_", "DH_"))}
        env.update(PATH=BUILD_PATH, LC_ALL="C.UTF-8", HOME=work)
        started = time.time()
        result = subprocess.run(["nice", "-n", "10", "dpkg-buildpackage", "-us", "-uc", "-b"],
                                cwd=src, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, universal_newlines=True)
        if result.returncode != 0:
            raise RuntimeError("dpkg-buildpackage failed ({}):\n{}".format(
                result.returncode, result.stdout[-6000:]))
        debs = [n for n in os.listdir(work) if n.startswith(PACKAGE + "_") and n.endswith(".deb")]
        if len(debs) != 1:
            raise RuntimeError("expected one {}_*.deb, found {}".format(PACKAGE, debs))
        staging = tempfile.mkdtemp(prefix=".tmp-", dir=cache)
        os.chmod(staging, 0o755)
        shutil.move(os.path.join(work, debs[0]), os.path.join(staging, debs[0]))
        with open(os.path.join(staging, "build.log"), "w") as handle:
            handle.write(result.stdout)
            handle.write("\n[build took {:.1f} s]\n".format(time.time() - started))
        target = os.path.join(cache, key)
        shutil.rmtree(target, ignore_errors=True)
        os.rename(staging, target)
        return os.path.join(target, debs[0])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _cached(cache, key):
    # type: (str, str) -> str
    target = os.path.join(cache, key)
    if os.path.isdir(target):
        for name in os.listdir(target):
            if name.endswith(".deb"):
                return os.path.join(target, name)
    return ""


def _prune(cache, keep_key):
    # type: (str, str) -> None
    entries = [os.path.join(cache, n) for n in os.listdir(cache)
               if n != keep_key and not n.startswith(".")]
    entries.sort(key=os.path.getmtime, reverse=True)
    for old in entries[KEEP - 1:]:
        shutil.rmtree(old, ignore_errors=True)


def build_deb(outdir=None):
    # type: (str) -> str
    """Path of the .deb built from the working tree, copied into outdir when given.

    Builds at most once per tree state: across processes (a file lock and the cache) and
    within one (the key is computed once per process).
    """
    missing = missing_tools()
    if missing:
        raise RuntimeError("cannot build the .deb, not installed: {} (make deps installs them)"
                           .format(", ".join(missing)))
    cache = cache_dir()
    os.makedirs(cache, exist_ok=True)
    if "key" not in _BUILT:
        _BUILT["key"] = tree_key(tree_files())
    key = _BUILT["key"]
    with open(os.path.join(cache, ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            deb = _cached(cache, key)
            if not deb:
                deb = _build(tree_files(), key, cache)
            os.utime(os.path.dirname(deb))  # most recently used: kept by _prune
            _prune(cache, key)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    if outdir is None:
        return deb
    os.makedirs(outdir, exist_ok=True)
    result = os.path.join(outdir, os.path.basename(deb))
    shutil.copyfile(deb, result + ".tmp")
    os.replace(result + ".tmp", result)
    return result


def build_log(deb):
    # type: (str) -> str
    """The dpkg-buildpackage output of a cached build (empty if not known)."""
    path = os.path.join(os.path.dirname(deb), "build.log")
    return open(path).read() if os.path.exists(path) else ""


if __name__ == "__main__":
    print(build_deb(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "dist")))
