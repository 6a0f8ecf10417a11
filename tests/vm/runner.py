"""Boot the enforcing VM on a throw-away overlay, run one scenario at boot, bring back its results.

The guest's pms-runner (tests/vm/guest/) mounts a payload disk holding ``boot.sh``, the project's
.deb built from the working tree (installed with dpkg at the first boot), its wheel (for the
Ansible role's venv) and tests/scenarios/; it writes the scenario's log, exit status,
``facts`` (KEY=VALUE lines), the audit log and the journal back onto that disk and powers off.
The host reads them with ``debugfs`` (no mount, no loop device). Every wait is bounded.
"""

import fcntl
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from tests.packaging.debs import build_deb
from tests.vm.image import CACHE_ROOT, base_image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCENARIOS = os.path.join(ROOT, "tests", "scenarios")
KERNEL_ARGS = ("root=LABEL=pmsroot rw console=ttyS0 security=selinux selinux=1 enforcing=1 "
               "systemd.show_status=1 panic=-1")
BOOT_SH = """#!/bin/bash
# Written by tests/vm/runner.py, run at every boot by the guest's pms-runner with the payload at
# $1. A scenario that exits with 100 asks for a reboot: its next boot runs it again with
# PMS_PHASE one higher (the phase is kept on the guest's own disk, which survives the reboot).
P=$1
PHASE=$(cat /var/lib/pms-phase 2>/dev/null || echo 1)
export PMS_OUT=$P/out PMS_SCENARIOS=$P/scenarios PMS_PLATFORM={family}-vm PMS_PHASE=$PHASE
echo "pms-runner: phase $PHASE context $(id -Z)" >>"$PMS_OUT/runner.log"
if [ "$PHASE" = 1 ]; then
    # The tool as an admin installs it: the project's .deb (its Depends are in the image).
    dpkg -i "$P"/deb/*.deb >"$PMS_OUT/dpkg.log" 2>&1 || echo "deb install failed: see dpkg.log"
fi
# Bounded (the host has its own outer bound too). The scenario's output goes to this unit's
# journal stream, not to a file on the payload disk: Postfix daemons it starts inherit stdout,
# and an unlabeled payload file would add test-bed AVCs to what the scenario observes.
timeout {timeout} /bin/bash "$P/scenarios/{name}.sh"
rc=$?
journalctl -b --no-pager -o cat -u pms-scenario.service >>"$PMS_OUT/scenario.log" 2>&1
cp /var/log/audit/audit.log* "$PMS_OUT/" 2>/dev/null
journalctl -b --no-pager -o short-precise >"$PMS_OUT/journal.$PHASE.txt" 2>&1
sestatus >"$PMS_OUT/sestatus.txt" 2>&1
if [ $rc = 100 ]; then
    echo $((PHASE + 1)) >/var/lib/pms-phase
    echo "$PHASE" >"$PMS_OUT/rebooted"
    sync
    exit 100
fi
echo $rc >"$PMS_OUT/rc"
"""


class VMError(RuntimeError):
    """The VM did not boot, hung, or came back without results."""


class ScenarioResult(object):
    """What came back from one scenario run in the guest."""

    def __init__(self, name, outdir, boot_seconds, wall_seconds, accel, console, family="debian"):
        self.name = name
        self.family = family
        self.outdir = outdir
        self.boot_seconds = boot_seconds
        self.wall_seconds = wall_seconds
        self.accel = accel
        self.console = console
        self.rc = int(self.read("rc").strip() or "-1")
        self.log = self.read("scenario.log")
        self.audit_log = "".join(self.read(os.path.basename(p))
                                 for p in sorted(glob.glob(os.path.join(outdir, "audit.log*")),
                                                 reverse=True))
        self.journal = "".join(self.read(os.path.basename(p)) for p in sorted(
            glob.glob(os.path.join(outdir, "journal.*.txt"))))
        self.boots = int(self.read("rebooted").strip() or "0") + 1
        self.facts = {}  # type: dict
        for line in self.read("facts").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                self.facts[key] = value

    def read(self, name):
        # type: (str) -> str
        path = os.path.join(self.outdir, name)
        if not os.path.exists(path):
            return ""
        with open(path, errors="replace") as handle:
            return handle.read()

    def audit_records(self, *needles):
        # type: (*str) -> list
        """Audit lines containing every needle."""
        return [l for l in self.audit_log.splitlines() if all(n in l for n in needles)]

    def summary(self):
        # type: () -> str
        return "scenario {} ({}): rc={} boots={} boot={:.1f}s wall={:.1f}s accel={}".format(
            self.name, self.family, self.rc, self.boots, self.boot_seconds, self.wall_seconds,
            self.accel)


_WHEEL_DIR = []  # type: list


def project_wheel_dir():
    # type: () -> str
    """A directory holding one wheel of the project built from the working tree (once per process)."""
    if not _WHEEL_DIR:
        target = tempfile.mkdtemp(prefix="pms-wheel-")
        # Builds write build/ in the working tree: one at a time across pytest-xdist workers.
        with open(os.path.join(tempfile.gettempdir(), "pms-wheel-build.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                            "--no-build-isolation", "-w", target, ROOT], check=True)
        _WHEEL_DIR.append(target)
    return _WHEEL_DIR[0]


def _payload_image(workdir, name, timeout, family):
    # type: (str, str, int, str) -> str
    payload = os.path.join(workdir, "payload")
    os.makedirs(os.path.join(payload, "out"))
    shutil.copytree(SCENARIOS, os.path.join(payload, "scenarios"))
    build_deb(os.path.join(payload, "deb"))  # what the guest installs (boot.sh)
    # The wheel, for the Ansible role's venv install (scenario 30).
    shutil.copytree(project_wheel_dir(), os.path.join(payload, "wheel"))
    # The Ansible collection, for the fleet scenario (run by the guest's own ansible-core).
    shutil.copytree(os.path.join(ROOT, "ansible"), os.path.join(payload, "ansible"),
                    ignore=shutil.ignore_patterns("__pycache__", "tests", ".*"))
    with open(os.path.join(payload, "boot.sh"), "w") as handle:
        handle.write(BOOT_SH.replace("{name}", name).replace("{timeout}", str(timeout))
                     .replace("{family}", family))
    image = os.path.join(workdir, "payload.img")
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-d", payload, image, "256M"], check=True)
    return image


def _qemu_command(image, overlay, payload, console, accel):
    # type: (object, str, str, str, str) -> list
    accel_args = ["-accel", "kvm", "-cpu", "max"] if accel == "kvm" else \
        ["-accel", "tcg,thread=multi", "-cpu", "max"]
    return ["qemu-system-x86_64", "-machine", "q35"] + accel_args + [
        "-smp", "2", "-m", "2048", "-kernel", image.kernel, "-initrd", image.initrd,
        "-append", KERNEL_ARGS,
        "-drive", "file={},if=virtio,format=qcow2".format(overlay),
        "-drive", "file={},if=virtio,format=raw".format(payload),
        "-nic", "none", "-display", "none", "-monitor", "none", "-no-reboot",
        "-serial", "file:{}".format(console)]


MAX_BOOTS = 3


def run_scenario(name, timeout=1200, accel=None, keep=False, family="debian"):
    # type: (str, int, str, bool, str) -> ScenarioResult
    """Boot a fresh overlay of ``family``'s image, run tests/scenarios/NAME.sh at boot, power off.

    A scenario that asks for a reboot (exit 100) is booted again on the same overlay, up to
    MAX_BOOTS boots in all; ``timeout`` bounds all of them together.
    """
    if not os.path.isfile(os.path.join(SCENARIOS, name + ".sh")):
        raise VMError("no scenario named {!r} in {}".format(name, SCENARIOS))
    image = base_image(family)
    accel = accel or choose_accel()
    workdir = tempfile.mkdtemp(prefix="pms-vm-{}-{}-".format(family, name))
    overlay = os.path.join(workdir, "overlay.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", image.rootfs,
                    overlay], check=True)
    payload = _payload_image(workdir, name, max(60, timeout - 120), family)
    console = os.path.join(workdir, "console.log")
    started = time.time()
    boot_seconds = None
    outdir = os.path.join(workdir, "result")
    for boot in range(1, MAX_BOOTS + 1):
        log = console if boot == 1 else "{}.{}".format(console, boot)
        proc = subprocess.Popen(_qemu_command(image, overlay, payload, log, accel),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        try:
            while proc.poll() is None:
                if time.time() - started > timeout:
                    raise VMError("scenario {} did not finish within {}s ({}, boot {}); console "
                                  "tail:\n{}".format(name, timeout, accel, boot, _tail(log)))
                if boot_seconds is None and "pms-runner: start" in _read(log):
                    boot_seconds = time.time() - started
                time.sleep(0.5)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        qemu_output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
        shutil.rmtree(outdir, ignore_errors=True)
        shutil.rmtree(os.path.join(workdir, "out"), ignore_errors=True)
        subprocess.run(["debugfs", "-R", "rdump /out {}".format(workdir), payload],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        os.rename(os.path.join(workdir, "out"), outdir)
        if os.path.exists(os.path.join(outdir, "rc")) or \
                not os.path.exists(os.path.join(outdir, "rebooted")):
            break
    wall = time.time() - started
    if not os.path.exists(os.path.join(outdir, "rc")):
        raise VMError("scenario {} left no result (qemu rc={}, {}); console tail:\n{}".format(
            name, proc.returncode, qemu_output.strip()[-500:], _tail(log)))
    result = ScenarioResult(name, outdir, boot_seconds or wall, wall, accel,
                            "".join(_read(p) for p in sorted(glob.glob(console + "*"))), family)
    if not keep:
        for disk in (overlay, payload):
            os.unlink(disk)
    return result


def _read(path):
    # type: (str) -> str
    try:
        with open(path, errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def _tail(path, lines=40):
    # type: (str, int) -> str
    return "\n".join(_read(path).splitlines()[-lines:])


def choose_accel():
    # type: () -> str
    """KVM only where a probe boot shows it works here; otherwise TCG. PMS_VM_ACCEL overrides.

    The probe (a full boot running the no-op scenario under KVM, bounded) is cached per host
    kernel and qemu version, since nested KVM is known to hang on some hosts.
    """
    forced = os.environ.get("PMS_VM_ACCEL")
    if forced in ("kvm", "tcg"):
        return forced
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], stdout=subprocess.PIPE,
                          universal_newlines=True).stdout.splitlines()[0]
    key = "{} | {}".format(os.uname().release, qemu)
    cache = os.path.join(CACHE_ROOT, "accel.json")
    os.makedirs(CACHE_ROOT, exist_ok=True)
    with open(cache + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one probe boot, however many workers ask at once
        return _probed_accel(key, cache)


def _probed_accel(key, cache):
    # type: (str, str) -> str
    known = {}
    if os.path.exists(cache):
        with open(cache) as handle:
            known = json.load(handle)
    if key not in known:
        try:
            ok = run_scenario("noop", timeout=90, accel="kvm").rc == 0
        except (VMError, subprocess.CalledProcessError):
            ok = False
        known[key] = "kvm" if ok else "tcg"
        os.makedirs(CACHE_ROOT, exist_ok=True)
        with open(cache, "w") as handle:
            json.dump(known, handle)
    return known[key]


if __name__ == "__main__":
    res = run_scenario(sys.argv[1] if len(sys.argv) > 1 else "noop", keep=True, timeout=2700,
                       family=sys.argv[2] if len(sys.argv) > 2 else "debian")
    print(res.summary())
    print(res.log)
    print("results in", res.outdir)
