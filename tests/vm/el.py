"""The EL family of the enforcing VM test bed, made from the cached Debian image.

Debian 12 userspace judged by an EL targeted policy from ``../shared/policies`` (``el9``: the EL9
targeted policy, policy.33; ``el7``: the EL7-era one, policy.31), with EL's Postfix layout (daemons
in /usr/libexec/postfix, no chroot) and EL's single ``postfix.service`` whose ``postfix start``
runs the multi-instance wrapper. ``el7`` also hides python3's semanage and setools bindings, as
EL7 has neither (the commands keep working). See tests/vm/guest/el/customize-el.sh.

The Debian image's tree is read back with ``debugfs rdump`` (no mount), customised, labelled
offline with the EL policy (``setfiles -r``) and packed with ``mke2fs -d``; cached beside the
Debian image under a key that hashes the Debian image's key, the policy tarball and the EL files.
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

from tests.vm.image import CACHE_ROOT, IMAGE_SIZE, BaseImage

HERE = os.path.dirname(os.path.abspath(__file__))
EL_DIR = os.path.join(HERE, "guest", "el")
REPO = os.path.dirname(os.path.dirname(HERE))
POLICIES = os.path.join(os.path.dirname(REPO), "shared", "policies")
TARBALLS = {"el9": "el9-targeted.tar.xz", "el7": "el7-targeted.tar.xz"}


def tarball(family):
    # type: (str) -> str
    path = os.path.join(POLICIES, TARBALLS[family])
    if not os.path.isfile(path):
        raise RuntimeError("the {} policy is not at {} (the EL family needs ../shared)".format(
            family, path))
    return path


def family_key(family, debian_key):
    # type: (str, str) -> str
    digest = hashlib.sha256(json.dumps([family, debian_key, IMAGE_SIZE]).encode())
    for path in [tarball(family), os.path.abspath(__file__)] + sorted(
            glob.glob(os.path.join(EL_DIR, "*"))):
        with open(path, "rb") as handle:
            digest.update(os.path.basename(path).encode() + b"\0" + handle.read())
    return digest.hexdigest()[:16]


def _run(cmd, **kwargs):
    print("+ " + " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, **kwargs)


def build(family, debian, directory):
    # type: (str, BaseImage, str) -> dict
    """Build ``family``'s image into ``directory`` from the Debian image; return timings."""
    started = time.time()
    root = os.path.join(directory, "root")
    os.makedirs(root)
    _run(["debugfs", "-R", "rdump / {}".format(root), debian.rootfs],
         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dumped = time.time()
    _run(["sh", os.path.join(EL_DIR, "customize-el.sh"), root, tarball(family), family, EL_DIR])
    selinux = os.path.join(root, "etc/selinux/targeted")
    policy = sorted(glob.glob(os.path.join(selinux, "policy/policy.*")))[-1]
    _run(["setfiles", "-r", root, "-c", policy,
          os.path.join(selinux, "contexts/files/file_contexts"), root])
    if family == "el7":
        # Debian's libsemanage 3.4 keeps the store in /var/lib/selinux, which this 2015 policy
        # does not know (EL7's own 2.5 keeps it in /etc/selinux/targeted/active): label it as the
        # policy labels its store, or semanage's setfiles may not read the policy it builds.
        store_fc = os.path.join(directory, "store.fc")
        with open(store_fc, "w") as handle:
            handle.write("/var/lib/selinux(/.*)?\tsystem_u:object_r:semanage_store_t:s0\n")
        _run(["setfiles", "-r", root, "-c", policy, store_fc,
              os.path.join(root, "var/lib/selinux")])
    _run(["mke2fs", "-q", "-t", "ext4", "-L", "pmsroot", "-d", root,
          os.path.join(directory, "rootfs.img"), IMAGE_SIZE])
    shutil.copy(debian.kernel, os.path.join(directory, "vmlinuz"))
    shutil.copy(debian.initrd, os.path.join(directory, "initrd.img"))
    shutil.rmtree(root)
    return {"family": family, "from": debian.build_info.get("key"),
            "rdump_seconds": round(dumped - started, 1),
            "total_seconds": round(time.time() - started, 1)}


def family_image(family, debian):
    # type: (str, BaseImage) -> BaseImage
    """The cached image of an EL family, built from ``debian`` first if it is not there."""
    if family not in TARBALLS:
        raise RuntimeError("unknown VM family {!r} (debian, {})".format(
            family, ", ".join(sorted(TARBALLS))))
    key = "{}-{}".format(family, family_key(family, debian.build_info["key"]))
    final = os.path.join(CACHE_ROOT, key)
    if not os.path.isfile(os.path.join(final, "build.json")):
        with open(os.path.join(CACHE_ROOT, ".lock-" + family), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not os.path.isfile(os.path.join(final, "build.json")):
                work = final + ".building"
                shutil.rmtree(work, ignore_errors=True)
                os.makedirs(work)
                info = build(family, debian, work)
                info["key"] = key
                with open(os.path.join(work, "build.json"), "w") as handle:
                    json.dump(info, handle)
                for old in glob.glob(os.path.join(CACHE_ROOT, family + "-*")):
                    if old != work:
                        shutil.rmtree(old, ignore_errors=True)
                os.rename(work, final)
                image = BaseImage(final)
                image.build_info["cached"] = False
                return image
    image = BaseImage(final)
    image.build_info["cached"] = True
    return image


if __name__ == "__main__":
    from tests.vm.image import base_image
    img = family_image(sys.argv[1] if len(sys.argv) > 1 else "el9", base_image())
    print(json.dumps(dict(img.build_info, directory=img.directory), indent=2))
