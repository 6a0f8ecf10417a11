"""Compile (checkmodule -M -m, semodule_package), version, and install a module offline.

Versioning: ``1.N.hDIGEST`` where DIGEST hashes the rule set. The installed module's version
is read back from the store (its ``hll`` is the original .pp) and its rules from the store's
CIL, so a rerun with the same denials renders the same rule set and is a no-op, and a new
denial bumps N (old rules are carried forward, not dropped).

Installation goes through the labeling engine's single policy transaction
(:class:`postmulti_selinux.selinux.PolicyTransaction`), never through semodule directly.
"""

import bz2
import os
import re
import shutil
import struct
import subprocess
from typing import NamedTuple, Optional

from postmulti_selinux import probes
from postmulti_selinux.avc.triage import RoleRule, Rule
from postmulti_selinux.errors import ToolError

PP_MAGIC = 0xF97CFF8F
MOD_MAGIC = 0xF97CFF8D
_VERSION_PARTS = re.compile(r"\A1\.(\d+)\.h([0-9a-f]{6,64})\Z")
_CIL_ALLOW = re.compile(r"\(allow\s+([\w.-]+)\s+([\w.-]+)\s+\(([\w.-]+)\s+\(([\w.\s-]*)\)\)\)")
_CIL_ROLETYPE = re.compile(r"\(roletype\s+([\w.-]+)\s+([\w.-]+)\)")


class Built(NamedTuple):
    """Files of a compiled module."""
    name: str
    version: str
    te_path: str
    fc_path: Optional[str]
    pp_path: str


class InstalledModule(NamedTuple):
    name: str
    version: Optional[str]
    rules: tuple
    role_rules: tuple


def _run(argv, what):
    try:
        probes.process(argv)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True)
        out, err = proc.communicate()
    except OSError as exc:
        raise ToolError("cannot run {}: {}".format(argv[0], exc.strerror or exc),
                        hint="install checkpolicy / semodule-utils / policycoreutils")
    if proc.returncode != 0:
        lines = [l for l in (err or out).strip().splitlines() if l.strip()]
        raise ToolError("{} failed: {}".format(what, lines[-1] if lines else "exit {}".format(proc.returncode)))
    return out


def compile_module(module, outdir):
    # type: (object, str) -> Built
    """Write NAME.te (and NAME.fc) into ``outdir`` and build NAME.pp with the real tools."""
    if not os.path.isdir(outdir):
        raise ToolError("output directory does not exist: {}".format(outdir))
    te_path = os.path.join(outdir, module.name + ".te")
    fc_path = os.path.join(outdir, module.name + ".fc") if module.fc else None
    mod_path = os.path.join(outdir, module.name + ".mod")
    pp_path = os.path.join(outdir, module.name + ".pp")
    with open(te_path, "w") as handle:
        handle.write(module.te)
    if fc_path:
        with open(fc_path, "w") as handle:
            handle.write(module.fc)
    _run(["checkmodule", "-M", "-m", "-o", mod_path, te_path], "checkmodule")
    argv = ["semodule_package", "-o", pp_path, "-m", mod_path]
    if fc_path:
        argv += ["-f", fc_path]
    _run(argv, "semodule_package")
    os.unlink(mod_path)
    return Built(module.name, module.version, te_path, fc_path, pp_path)


def pp_name_version(data):
    # type: (bytes) -> tuple
    """(name, version) from a policy package (.pp) or a bare module (.mod)."""
    if len(data) >= 4 and data[:3] == b"BZh":
        data = bz2.decompress(data)
    magic = struct.unpack_from("<I", data, 0)[0]
    offset = 0
    if magic == PP_MAGIC:
        _, nsec = struct.unpack_from("<II", data, 4)
        offsets = struct.unpack_from("<{}I".format(nsec), data, 12)
        for off in offsets:
            if struct.unpack_from("<I", data, off)[0] == MOD_MAGIC:
                offset = off
                break
        else:
            raise ValueError("no module section")
    elif magic != MOD_MAGIC:
        raise ValueError("not a policy module")
    (length,) = struct.unpack_from("<I", data, offset + 4)
    pos = offset + 8 + length + 4 * 5          # id string, then type, version, config, syms, ocons
    (nlen,) = struct.unpack_from("<I", data, pos)
    name = data[pos + 4:pos + 4 + nlen].decode("ascii")
    pos += 4 + nlen
    (vlen,) = struct.unpack_from("<I", data, pos)
    version = data[pos + 4:pos + 4 + vlen].decode("ascii")
    return name, version


def store_dir(root, store):
    """The module store of STORE under ROOT (as libsemanage finds it: semanage.conf's store-root)."""
    from postmulti_selinux.selinux import PolicyRoot
    try:
        return PolicyRoot(root or "/", store).store_dir
    except ToolError:
        return os.path.join(root or "/", "var/lib/selinux", store)


def read_installed(name, store, root="/"):
    # type: (str, str, str) -> Optional[InstalledModule]
    """The installed module NAME in STORE under ROOT (highest priority), or None."""
    modules = os.path.join(store_dir(root, store), "active", "modules")
    try:
        priorities = sorted((p for p in os.listdir(modules) if p.isdigit()), key=int, reverse=True)
    except OSError:
        return None
    for priority in priorities:
        directory = os.path.join(modules, priority, name)
        if not os.path.isdir(directory):
            continue
        if os.path.exists(os.path.join(modules, "disabled", name)):
            return None
        version = None
        try:
            with open(os.path.join(directory, "hll"), "rb") as handle:
                version = pp_name_version(handle.read())[1]
        except (IOError, OSError, ValueError, struct.error, UnicodeDecodeError):
            version = None
        rules, role_rules = [], []
        try:
            with open(os.path.join(directory, "cil"), "rb") as handle:
                raw = handle.read()
            cil = (bz2.decompress(raw) if raw[:3] == b"BZh" else raw).decode("utf-8", "replace")
            for source, target, tclass, perms in _CIL_ALLOW.findall(cil):
                rules.append(Rule(source, target, tclass, tuple(sorted(perms.split()))))
            for role, type_ in _CIL_ROLETYPE.findall(cil):
                if role != "object_r":
                    role_rules.append(RoleRule(role, type_))
        except (IOError, OSError, ValueError):
            pass
        return InstalledModule(name, version, tuple(rules), tuple(role_rules))
    return None


def next_version(installed_version, digest):
    # type: (Optional[str], str) -> tuple
    """(version, unchanged): same digest as installed -> same version; otherwise N+1."""
    match = _VERSION_PARTS.match(installed_version or "")
    if match and match.group(2) == digest:
        return installed_version, True
    serial = int(match.group(1)) + 1 if match else 1
    return "1.{}.h{}".format(serial, digest), False


def copy_store(src_root, store, dest_root):
    """Copy ``etc/selinux/STORE`` and ``var/lib/selinux/STORE`` to DEST_ROOT (for offline tests)."""
    for rel in ("etc/selinux", "var/lib/selinux"):
        src = os.path.join(src_root, rel, store)
        dst = os.path.join(dest_root, rel, store)
        if not os.path.isdir(src):
            raise ToolError("no policy store at {}".format(src))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copytree(src, dst, symlinks=True)
    return dest_root
