"""Build and cache the Debian 12 base image of the enforcing VM test bed.

The image is built once with mmdebstrap from the host's own apt sources, labelled offline with
``setfiles -r`` (the guest boots enforcing from its first second, so every file must already carry
its SELinux label), and packed into an ext4 file with ``mke2fs -d`` (which keeps the
security.selinux xattrs). It is cached under CACHE_ROOT keyed by everything that goes into it:
the package list, the suite, the host's apt sources and the guest files in tests/vm/guest/.
Run ``python -m tests.vm.image`` to build it by hand.
"""

import fcntl
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

CACHE_ROOT = os.environ.get("PMS_VM_CACHE", "/var/cache/postmulti-selinux/vm")
SUITE = "bookworm"
IMAGE_SIZE = "3G"
HERE = os.path.dirname(os.path.abspath(__file__))
GUEST_DIR = os.path.join(HERE, "guest")
PACKAGES = [
    "linux-image-amd64", "systemd-sysv", "udev", "kmod", "procps", "iproute2",
    "selinux-basics", "selinux-policy-default", "selinux-utils", "auditd",
    "policycoreutils", "policycoreutils-python-utils", "python3-selinux", "python3-setools",
    "python3-semanage", "semodule-utils", "checkpolicy", "postfix", "python3-venv",
    "python3-pip", "python3-click", "python3-jinja2", "ansible-core",
    "python3-apt", "setools",
]


def apt_sources():
    # type: () -> list
    """The host's own apt source files, passed to mmdebstrap as its mirror arguments."""
    files = sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))
    if os.path.isfile("/etc/apt/sources.list") and os.path.getsize("/etc/apt/sources.list"):
        files.insert(0, "/etc/apt/sources.list")
    debian = [f for f in files if _mentions_suite(f)]
    if not debian:
        raise RuntimeError("no apt source for {} in the host's apt configuration".format(SUITE))
    return debian


def _mentions_suite(path):
    # type: (str) -> bool
    with open(path) as handle:
        return any(SUITE in line and not line.lstrip().startswith("#") for line in handle)


def image_key():
    # type: () -> str
    """A digest of every input of the image: change any of them and a new image is built."""
    digest = hashlib.sha256()
    digest.update(json.dumps([SUITE, IMAGE_SIZE, PACKAGES]).encode())
    own = sorted(p for p in glob.glob(os.path.join(GUEST_DIR, "*")) if os.path.isfile(p))
    own.append(os.path.abspath(__file__))
    for path in apt_sources() + own:
        # Repository files by their path inside the repository, so that every checkout of the
        # same inputs shares one cached image.
        name = os.path.relpath(path, HERE) if path in own else path
        with open(path, "rb") as handle:
            digest.update(name.encode() + b"\0" + handle.read())
    return digest.hexdigest()[:16]


class BaseImage(object):
    """A built image: an ext4 root file, its kernel and initrd, and how long it took to build."""

    def __init__(self, directory):
        # type: (str) -> None
        self.directory = directory
        self.rootfs = os.path.join(directory, "rootfs.img")
        self.kernel = os.path.join(directory, "vmlinuz")
        self.initrd = os.path.join(directory, "initrd.img")
        with open(os.path.join(directory, "build.json")) as handle:
            self.build_info = json.load(handle)  # type: dict

    def __repr__(self):
        return "BaseImage({!r})".format(self.directory)


def _run(cmd, **kwargs):
    print("+ " + " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, **kwargs)


def build(directory):
    # type: (str) -> dict
    """Build the image into ``directory``; return timing figures."""
    chroot = os.path.join(directory, "root")
    started = time.time()
    _run(["mmdebstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES),
          "--customize-hook=chroot \"$1\" postconf -e inet_interfaces=loopback-only",
          "--customize-hook=sh {}/customize.sh \"$1\" {}".format(GUEST_DIR, GUEST_DIR),
          SUITE, chroot] + apt_sources())
    debootstrapped = time.time()
    policy_root = os.path.join(chroot, "etc/selinux/default")
    binary_policy = sorted(glob.glob(os.path.join(policy_root, "policy/policy.*")))[-1]
    _run(["setfiles", "-r", chroot, "-c", binary_policy,
          os.path.join(policy_root, "contexts/files/file_contexts"), chroot])
    _run(["mke2fs", "-q", "-t", "ext4", "-L", "pmsroot", "-d", chroot,
          os.path.join(directory, "rootfs.img"), IMAGE_SIZE])
    labelled = time.time()
    shutil.copy(sorted(glob.glob(os.path.join(chroot, "boot/vmlinuz-*")))[-1],
                os.path.join(directory, "vmlinuz"))
    shutil.copy(sorted(glob.glob(os.path.join(chroot, "boot/initrd.img-*")))[-1],
                os.path.join(directory, "initrd.img"))
    shutil.rmtree(chroot)
    return {"mmdebstrap_seconds": round(debootstrapped - started, 1),
            "label_and_pack_seconds": round(labelled - debootstrapped, 1),
            "total_seconds": round(time.time() - started, 1)}


def base_image(family="debian"):
    # type: (str) -> BaseImage
    """The cached image of ``family`` (debian, el9, el7) for the current inputs, built first if
    it is not there yet. The EL families are made from the Debian image (see tests/vm/el.py)."""
    if family != "debian":
        from tests.vm import el
        return el.family_image(family, base_image())
    key = image_key()
    final = os.path.join(CACHE_ROOT, key)
    if os.path.isfile(os.path.join(final, "build.json")):
        image = BaseImage(final)
        image.build_info["cached"] = True
        return image
    os.makedirs(CACHE_ROOT, exist_ok=True)
    with open(os.path.join(CACHE_ROOT, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a parallel build waits, then reuses this one
        if not os.path.isfile(os.path.join(final, "build.json")):
            work = final + ".building"
            shutil.rmtree(work, ignore_errors=True)
            os.makedirs(work)
            info = build(work)
            info["key"] = key
            with open(os.path.join(work, "build.json"), "w") as handle:
                json.dump(info, handle)
            os.rename(work, final)
            _prune(keep=key)
    image = BaseImage(final)
    image.build_info.setdefault("cached", False)
    return image


def _prune(keep):
    # type: (str) -> None
    """Drop Debian images built from older inputs (each is a few hundred MB)."""
    for entry in glob.glob(os.path.join(CACHE_ROOT, "*")):
        if os.path.basename(entry) != keep and os.path.isdir(entry) and "-" not in \
                os.path.basename(entry):
            shutil.rmtree(entry, ignore_errors=True)


if __name__ == "__main__":
    img = base_image()
    print(json.dumps(dict(img.build_info, directory=img.directory), indent=2))
