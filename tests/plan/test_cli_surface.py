"""Property-based: the CLI's argument surface (names, ports, listener specs, paths) on an
offline root. Whatever the input: no traceback, one error line on stderr with a non-zero exit,
one JSON object on stdout with --json, and a refused run changes nothing."""

import json
import os
import string

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from postmulti_selinux.cli.main import main
from tests.plan.test_hardening import snapshot

NAME_CHARS = string.ascii_letters + string.digits + "-_./:@%!=+ \u0662\u00e9\t*$;'\""
names = st.one_of(
    st.sampled_from(["postfix-sub", "postfix-nope", "sub", "postfix-", "../postfix-x", "",
                     "postfix-" + "x" * 300, "-", "/etc/postfix-sub"]),
    st.text(NAME_CHARS, max_size=40))
ports = st.one_of(st.integers(-5, 70000).map(str), st.text("0123456789\u0662 x-", max_size=7))
hosts = st.sampled_from(["127.0.0.1", "localhost", "[::1]", "::1", "0.0.0.0", "*", "",
                         "256.1.1.1", "exa mple", "[fe80::1%eth0]", "\u0661.1.1.1"])
listeners = st.one_of(ports, st.tuples(hosts, ports).map(":".join))
paths = st.sampled_from(["", "/", "relative/dir", "/nonexistent", "/etc/postfix", "/dev/null",
                         "/proc/self", "ROOT/etc/postfix", "ROOT/../x", "ROOT/var/lib/x\x7f"])
SETTINGS = settings(max_examples=15, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))


def runner():
    try:
        return CliRunner(mix_stderr=False)
    except TypeError:  # click >= 8.2 keeps stderr apart already
        return CliRunner()


def invoke(argv):
    result = runner().invoke(main, argv, catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        (argv, repr(result.exception))
    return result


def assert_well_behaved(argv, result, as_json):
    stderr = result.stderr
    assert "Traceback" not in stderr + result.stdout, argv
    assert "internal error" not in stderr, (argv, stderr)
    status = argv[0] == "check" and result.exit_code in (1, 2)  # WARNING, CRITICAL: a report
    if result.exit_code != 0 and not status:
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1, (argv, stderr)
        if as_json:
            data = json.loads(result.stdout)
            assert data["ok"] is False and data["error"], (argv, result.stdout)
    elif as_json:
        json.loads(result.stdout)
    if argv[0] == "check":
        assert result.exit_code in (0, 1, 2, 3), (argv, result.exit_code)


@pytest.fixture
def host(offline_host):
    return offline_host


def fill(value, root):
    return value.replace("ROOT", root)


@pytest.mark.parametrize("family", ["debian"], indirect=True)
def test_plan_check_undo_labels_behave_on_any_input(host):
    root = host.root
    before = snapshot(host)

    @SETTINGS
    @given(command=st.sampled_from(["plan", "check", "undo", "labels"]), name=names,
           listen=st.none() | listeners, path=st.none() | paths, as_json=st.booleans())
    def probe(command, name, listen, path, as_json):
        argv = [command]
        if command == "labels":
            argv += ["--root", root] + (["--port", listen] if listen else []) + \
                (["--dir", "/etc/postfix=" + fill(path, root)] if path else [])
        else:
            argv += [name, "--root", root]
            if command == "plan" and listen is not None:
                argv += ["--listen", listen]
            if path is not None:
                argv += ["--state-dir" if command == "undo" else "--config-dir", fill(path, root)]
            if command == "undo":
                argv += ["--dry-run"]
        if as_json:
            argv.append("--json")
        assert_well_behaved(argv, invoke(argv), as_json)

    probe()
    assert snapshot(host) == before


@pytest.mark.parametrize("family", ["debian"], indirect=True)
def test_secure_refuses_bad_input_and_changes_nothing(host):
    root = host.root
    before = snapshot(host)
    bad_listeners = listeners.filter(lambda spec: not _valid_listener(spec))

    @SETTINGS
    @given(name=names.filter(lambda n: n != "postfix-sub"), listen=bad_listeners,
           as_json=st.booleans(), bad=st.sampled_from(["name", "listen", "port"]))
    def probe(name, listen, as_json, bad):
        argv = ["secure", name if bad == "name" else "postfix-sub", "--root", root,
                "--no-restart"]
        if bad == "listen":
            argv += ["--listen", listen]
        elif bad == "port":
            argv += ["--port", listen]
        if as_json:
            argv.append("--json")
        result = invoke(argv)
        assert result.exit_code != 0, argv
        assert_well_behaved(argv, result, as_json)

    probe()
    assert snapshot(host) == before


def _valid_listener(spec):
    """Specs the tool may accept (and then change the root): a port alone or an address with
    an ASCII port, none of which the refusal test may use. Surrounding white space does not
    count: the tool strips it (and click's int conversion of --port ignores it)."""
    host, _, port = spec.strip().rpartition(":")
    return port.isdigit() and all(c in string.digits for c in port) and 0 < int(port) < 65536 \
        and host in ("", "127.0.0.1", "localhost", "[::1]", "::1", "0.0.0.0", "*",
                     "[fe80::1%eth0]")
