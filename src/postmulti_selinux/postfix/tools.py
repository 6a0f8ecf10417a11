"""Run Postfix's own command-line tools (postconf, postmulti, postfix, postqueue).

Every failure becomes a ToolError that names the command and repeats Postfix's own message.

postmulti(1) refuses to work on any primary instance other than its compiled-in default
configuration directory (it exits with "Non-default configuration directory" when MAIL_CONFIG
points elsewhere). To drive it against an alternate parent directory we run it inside a private
mount namespace in which that directory is bind-mounted over the default one; nothing outside
the namespace sees the mount, and the real default directory is never opened for writing.
"""

import os
import select
import subprocess
import threading

from postmulti_selinux import probes
from postmulti_selinux.errors import ToolError

DEFAULT_CONFIG_DIR = "/etc/postfix"
# Where distributions install the Postfix commands; PATH is searched first.
SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin", "/bin")
COMMAND_TIMEOUT = 300

# A tiny shell program run under "unshare --mount": make every mount private to the new
# namespace, bind the alternate parent directory over the default one, run the command.
_NAMESPACE_SCRIPT = 'mount --make-rprivate / && mount --bind "$1" "$2" && shift 2 && exec "$@"'


class CommandResult(object):
    """What a finished command printed and returned."""

    def __init__(self, argv, returncode, stdout, stderr):
        # type: (list, int, str, str) -> None
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def message(self):
        # type: () -> str
        """The most useful line of Postfix's complaint (fatal first), or the exit code."""
        lines = [line.strip() for line in (self.stderr or "").splitlines() if line.strip()]
        for line in lines:
            if "fatal:" in line or "error:" in line:
                return line
        if lines:
            return lines[-1]
        return "exit status {}".format(self.returncode)


def _drain(fd, sink, finished):
    # type: (int, list, threading.Event) -> None
    """Read ``fd`` into ``sink`` until EOF (or EIO: a pty whose writers are gone), or until the
    command has ``finished`` and nothing more is ready (a daemon it left behind holds the other
    end open)."""
    while True:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            if finished.is_set():
                return
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        sink.append(chunk)


def run_command(argv, env=None, tty_stderr=False, timeout=COMMAND_TIMEOUT):
    # type: (list, dict, bool, int) -> CommandResult
    """Run argv with stdout and stderr on pipes that are read until it exits.

    Pipes, not files: a Postfix command may enter postfix_master_t, which may use a pipe or a
    pty of the caller's domain but not the caller's temporary files (an AVC, "read write" on
    initrc_tmp_t). Daemons left behind keep the pipes open, so reading stops when the command
    has exited and nothing more is ready. postmulti and postfix print their diagnostics on
    stderr only when stderr is a terminal (otherwise only to syslog); ``tty_stderr`` gives them
    a pseudo-terminal so we can repeat the reason for a failure.
    """
    finished = threading.Event()
    ends = []  # type: list
    sinks = ([], [])  # type: tuple
    readers = []
    try:
        out_read, out_write = os.pipe()
        ends.extend([out_read, out_write])
        err_read, err_write = os.openpty() if tty_stderr else os.pipe()
        ends.extend([err_read, err_write])
        try:
            probes.process(argv)
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out_write,
                                    stderr=err_write, env=env, close_fds=True)
        except OSError as exc:
            raise ToolError("cannot run {}: {}".format(argv[0], exc.strerror or exc))
        for fd in (out_write, err_write):
            os.close(fd)
            ends.remove(fd)
        for fd, sink in zip((out_read, err_read), sinks):
            reader = threading.Thread(target=_drain, args=(fd, sink, finished))
            reader.daemon = True
            reader.start()
            readers.append(reader)
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise ToolError("{} did not finish within {} seconds".format(
                " ".join(argv), timeout))
    finally:
        finished.set()  # the readers take what is ready, then stop
        for reader in readers:
            reader.join(5)
        for fd in ends:
            os.close(fd)
    stdout, stderr = (b"".join(sink) for sink in sinks)
    if tty_stderr:
        stderr = stderr.replace(b"\r\n", b"\n")
    return CommandResult(argv, returncode, stdout.decode("utf-8", "replace"),
                         stderr.decode("utf-8", "replace"))


def find_command(name, search=None):
    # type: (str, tuple) -> str
    """Absolute path of a Postfix (or util-linux) command, or a ToolError saying it is missing."""
    dirs = list(search) if search is not None else (
        os.environ.get("PATH", "").split(os.pathsep) + list(SBIN_DIRS))
    for directory in dirs:
        if not directory:
            continue
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    if name in ("postconf", "postmulti", "postfix", "postqueue"):
        raise ToolError("Postfix is not installed: '{}' was not found".format(name),
                        hint="install the postfix package (Postfix 2.6 or later)")
    raise ToolError("'{}' was not found".format(name), hint="install util-linux")


class Postfix(object):
    """Postfix's tools bound to one primary (parent) instance configuration directory."""

    def __init__(self, config_dir=DEFAULT_CONFIG_DIR, search=None):
        # type: (str, tuple) -> None
        self.config_dir = os.path.abspath(config_dir)
        self._search = search
        self._paths = {}  # type: dict
        self._default_dir = None  # type: str

    def command(self, name):
        # type: (str) -> str
        if name not in self._paths:
            self._paths[name] = find_command(name, self._search)
        return self._paths[name]

    # -- postconf ---------------------------------------------------------------------------
    def postconf(self, args, config_dir=None):
        # type: (list, str) -> str
        """Run ``postconf -c DIR ARGS`` and return its stdout; ToolError when it fails."""
        directory = config_dir or self.config_dir
        if not os.path.isfile(os.path.join(directory, "main.cf")):
            if not os.path.isdir(directory):
                raise ToolError("Postfix configuration directory {} does not exist".format(directory))
            raise ToolError("{}/main.cf is missing".format(directory))
        argv = [self.command("postconf"), "-c", directory] + list(args)
        result = run_command(argv)
        if result.returncode != 0 or "fatal:" in result.stderr:
            raise ToolError("postconf -c {} failed: {}".format(directory, result.message()),
                            hint="check that {}/main.cf and master.cf are readable and valid".format(
                                directory))
        return result.stdout

    def params(self, names, config_dir=None, expand=True):
        # type: (list, str, bool) -> dict
        """Values of main.cf parameters as Postfix sees them (``$name`` expanded with ``-x``)."""
        out = self.postconf((["-x"] if expand else []) + list(names), config_dir)
        values = {}
        for line in out.splitlines():
            name, sep, value = line.partition("=")
            if sep:
                values[name.strip()] = value.strip()
        missing = [n for n in names if n not in values]
        if missing:
            raise ToolError("postconf did not report {} for {}".format(
                ", ".join(missing), config_dir or self.config_dir))
        return values

    def explicit_params(self, config_dir=None):
        # type: (str) -> dict
        """Parameters set explicitly in main.cf (``postconf -n``), unexpanded."""
        out = self.postconf(["-n"], config_dir)
        values = {}
        for line in out.splitlines():
            name, sep, value = line.partition("=")
            if sep:
                values[name.strip()] = value.strip()
        return values

    def master_lines(self, config_dir=None):
        # type: (str) -> list
        """master.cf entries as normalised by ``postconf -M`` (one line per service)."""
        return [line for line in self.postconf(["-M"], config_dir).splitlines() if line.strip()]

    def default_config_dir(self):
        # type: () -> str
        """The configuration directory compiled into postmulti (usually /etc/postfix)."""
        if self._default_dir is None:
            out = run_command([self.command("postconf"), "-d", "-h", "config_directory"])
            if out.returncode != 0 or not out.stdout.strip():
                raise ToolError("postconf -d config_directory failed: {}".format(out.message()))
            self._default_dir = out.stdout.strip()
        return self._default_dir

    def mail_version(self):
        # type: () -> str
        return self.params(["mail_version"], expand=False)["mail_version"]

    # -- postmulti / postfix ----------------------------------------------------------------
    def postmulti(self, args, check=True):
        # type: (list, bool) -> CommandResult
        """Run postmulti for this parent, in a private mount namespace when it is not the default."""
        argv = [self.command("postmulti")] + list(args)
        default = self.default_config_dir()
        if os.path.realpath(self.config_dir) != os.path.realpath(default):
            if os.geteuid() != 0:
                raise ToolError("postmulti works only on {}; driving the alternate parent {} "
                                "needs root (a private mount namespace)".format(default, self.config_dir))
            argv = [self.command("unshare"), "--mount", "sh", "-c", _NAMESPACE_SCRIPT, "sh",
                    self.config_dir, default] + argv
        env = dict(os.environ)
        env.pop("MAIL_CONFIG", None)
        result = run_command(argv, env=env, tty_stderr=True)
        if check and result.returncode != 0:
            raise ToolError("postmulti {} failed: {}".format(" ".join(args), result.message()))
        return result

    def postfix(self, config_dir, args, check=True):
        # type: (str, list, bool) -> CommandResult
        """Run ``postfix -c DIR ARGS`` (used for status and for stopping disabled children)."""
        argv = [self.command("postfix"), "-c", config_dir] + list(args)
        env = dict(os.environ)
        env.pop("MAIL_CONFIG", None)
        result = run_command(argv, env=env, tty_stderr=True)
        if check and result.returncode != 0:
            raise ToolError("postfix -c {} {} failed: {}".format(
                config_dir, " ".join(args), result.message()))
        return result

