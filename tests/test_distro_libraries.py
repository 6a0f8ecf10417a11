"""The tool with the distributions' own click and jinja2 (issue 15).

EL9 ships click 7.1.2 and jinja2 2.11.3, EL8 click 6.7 and jinja2 2.10.1; .venv has the newest
(click 8, jinja2 3). setup.cfg promises click>=6.7, jinja2>=2.10. What is tested here:

* EL9's pins, for real (``distrolibs``): a venv from /usr/bin/python3 with
  ``--system-site-packages`` (the distribution's SELinux bindings stay visible), click==7.1.2,
  jinja2==2.11.3, markupsafe==2.0.1 (the last MarkupSafe with ``soft_unicode``, which jinja2
  2.11 imports), pytest and hypothesis, and the project installed non-editable with
  ``--no-deps`` from a temp copy of the tree (the working tree gets no build/ or egg-info).
  The CLI and template tests run in it, and the console scripts answer a fixed table of cases.
* EL8's click 6.7, for real (``distrolibs``), with EL9's jinja2: click 6.7 runs on this host's
  Python 3.11. The same tests run, except tests/plan/test_cli_surface.py, whose harness reads
  ``CliRunner(mix_stderr=False).invoke(...).stderr``: click 6.7's CliRunner has neither
  (``mix_stderr`` and ``Result.stderr`` came in click 7.0). Its subject, one error line on
  stderr and one JSON object on stdout, is checked through the console scripts instead.
* EL8's jinja2 2.10.1 cannot run on Python >= 3.10 at all: its jinja2/tests.py does
  ``from collections import Mapping``, an alias Python 3.10 removed, so ``import jinja2``
  fails before any code of ours is reached. That is not faked away. Instead
  (a) a static scan of every source that imports click or jinja2, and of the templates, fails
  when a feature newer than click 6.7 / jinja2 2.10.1 (or one removed by click 8 / jinja2 3)
  appears without its fallback; it always runs, without network. And (b) for the template
  language only, jinja2 2.10.1's engine renders our templates after the ``collections`` ABC
  aliases are put back in that one process; the text must equal jinja2 2.11.3's and 3.x's
  byte for byte. (b) says nothing about 2.10.1 importing on Python 3.11: it cannot.
"""

import collections
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tokenize
import zipfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYSTEM_PYTHON = "/usr/bin/python3"

EL9 = collections.OrderedDict([("click", "7.1.2"), ("jinja2", "2.11.3"), ("markupsafe", "2.0.1")])
# EL8's click with EL9's jinja2: EL8's jinja2 2.10.1 cannot be imported on Python >= 3.10.
CLICK67 = collections.OrderedDict([("click", "6.7"), ("jinja2", "2.11.3"),
                                   ("markupsafe", "2.0.1")])
EL8_JINJA2 = "2.10.1"

# The tests that exercise the CLI and the templates; the store-linking and install tests are
# about libsemanage, not click or jinja2, and cost ~30 s.
SUBSET = ["tests/test_cli.py", "tests/plan/test_cli_surface.py", "tests/avc/test_module.py",
          "tests/avc/test_cli_avc.py"]
DESELECT = "not links_into and not install_goes_through"
# click 6.7's CliRunner cannot keep stderr apart (see the module docstring).
NEEDS_CLICK7_RUNNER = {"tests/plan/test_cli_surface.py"}

_NETWORK = ("NewConnectionError", "Temporary failure in name resolution", "Max retries exceeded",
            "No matching distribution", "Could not fetch URL", "ConnectionError", "timed out")

# A plugin for the inner pytest: no shrinking, so a failure in there fails in seconds instead of
# Hypothesis shrinking for minutes (the examples it generates are unchanged).
_NO_SHRINK_PLUGIN = """\
from hypothesis import Phase, settings
settings.register_profile("distrolibs", phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile("distrolibs")
"""


def _run(argv, timeout, **kwargs):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=timeout, **kwargs)


def _pip(python, args, what, timeout=300):
    proc = _run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                 "--no-input"] + args, timeout)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-15:])
        if any(marker in proc.stdout for marker in _NETWORK):
            pytest.skip("cannot install {} from the package registry: {}".format(what, tail))
        pytest.fail("pip install of {} failed:\n{}".format(what, tail))


def _project_copy(dest):
    """The files setup.py/setup.cfg build from, without build products or caches."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.so", "build")
    os.makedirs(dest)
    for name in ("src", "policy_templates"):
        shutil.copytree(os.path.join(REPO, name), os.path.join(dest, name), ignore=ignore)
    for name in ("setup.py", "setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy2(os.path.join(REPO, name), dest)
    return dest


def _tool_version(name):
    try:
        return "{}=={}".format(name, importlib.metadata.version(name))
    except importlib.metadata.PackageNotFoundError:
        return name


class Venv(object):
    def __init__(self, root, pins):
        self.root, self.pins = root, pins
        self.python = os.path.join(root, "bin", "python")
        self.bin = os.path.join(root, "bin")
        self.work = os.path.join(root, "work")  # cwd, Hypothesis storage, pytest plugin
        self.probe_facts = None


def _build_venv(tmp_path_factory, name, pins):
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip("{} not found".format(SYSTEM_PYTHON))
    base = str(tmp_path_factory.mktemp(name))
    venv = Venv(os.path.join(base, "venv"), pins)
    proc = _run([SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", venv.root], 120)
    if proc.returncode != 0:
        pytest.skip("cannot create a venv with {} (python3-venv?): {}".format(
            SYSTEM_PYTHON, proc.stdout.strip()[-500:]))
    wanted = ["{}=={}".format(k, v) for k, v in pins.items()]
    _pip(venv.python, wanted + [_tool_version("pytest"), _tool_version("hypothesis")],
         " ".join(wanted) + " with pytest and hypothesis")
    copy = _project_copy(os.path.join(base, "project"))
    # Non-editable, no deps (the pins above are the deps), with the distro's setuptools/wheel.
    _pip(venv.python, ["--no-deps", "--no-build-isolation", copy], "the project (from a copy)")
    os.makedirs(venv.work)
    with open(os.path.join(venv.work, "distrolibs_no_shrink.py"), "w") as handle:
        handle.write(_NO_SHRINK_PLUGIN)
    venv.probe_facts = _facts(venv)
    return venv


_FACTS = """\
import json, sys
sys.path.insert(0, sys.argv[1])  # as pytest puts the repository first for the tests package
import click, jinja2, markupsafe, postmulti_selinux
from importlib.metadata import version
print(json.dumps({n: version(n) for n in ("click", "jinja2", "markupsafe")}))
print(json.dumps({m.__name__: m.__file__ for m in (click, jinja2, markupsafe, postmulti_selinux)}))
"""


def _facts(venv):
    proc = subprocess.run([venv.python, "-c", _FACTS, REPO], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, cwd=venv.work,
                          env=_clean_env(venv), timeout=60)
    assert proc.returncode == 0, proc.stderr
    versions, files = [json.loads(line) for line in proc.stdout.splitlines()[-2:]]
    return versions, files


def _clean_env(venv):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "PMS_", "POSTMULTI_SELINUX_", "PYTHON"))
           and k not in ("VIRTUAL_ENV", "COV_CORE_SOURCE")}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=venv.work,
               HYPOTHESIS_STORAGE_DIRECTORY=os.path.join(venv.work, ".hypothesis"),
               PATH=venv.bin + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"))
    return env


@pytest.fixture(scope="module")
def el9_venv(tmp_path_factory):
    return _build_venv(tmp_path_factory, "el9-libs", EL9)


@pytest.fixture(scope="module")
def click67_venv(tmp_path_factory):
    return _build_venv(tmp_path_factory, "click67-libs", CLICK67)


def _assert_pinned(venv):
    versions, files = venv.probe_facts
    assert versions == dict(venv.pins), versions
    site = os.path.join(venv.root, "lib")
    for module, path in files.items():  # the distribution's or .venv's copies are shadowed
        assert path.startswith(site + os.sep), (module, path)


def _run_subset(venv, tests):
    argv = [venv.python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "-p", "distrolibs_no_shrink", "--rootdir", REPO,
            "-c", os.path.join(REPO, "pyproject.toml"), "-k", DESELECT] + \
        [os.path.join(REPO, t) for t in tests]
    try:
        proc = _run(argv, 480, cwd=venv.work, env=_clean_env(venv))
    except subprocess.TimeoutExpired as exc:
        pytest.fail("the tests did not finish in {} s in the venv".format(exc.timeout))
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert proc.returncode == 0, "\n".join(proc.stdout.splitlines()[-60:])
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    if "skipped" in summary:  # under CI=true the inner run has failed already (conftest)
        skips = [l for l in proc.stdout.splitlines() if l.startswith("SKIPPED")]
        pytest.skip("part of the subset was skipped with {}: {}".format(
            dict(venv.pins), "; ".join(skips) or summary))
    return summary


# The console scripts, as an admin calls them: (argv, exit code, what stdout holds). stderr holds
# nothing on success and exactly one line otherwise, never a traceback; messages may differ
# between click versions, exit codes and the JSON shape may not.
CASES = [
    (["postmulti-selinux", "--help"], 0, "usage"),
    (["postmulti-selinux", "--version"], 0, "version"),
    (["postmulti-selinux", "avc", "--help"], 0, "usage"),      # a subcommand's ctx.exit()
    (["postmulti-selinux", "check", "--help"], 0, "usage"),
    (["secure-child", "--help"], 0, "usage"),
    (["secure-child", "--version"], 0, "version"),
    (["postmulti-selinux", "no-such-subcommand"], 2, ""),
    (["postmulti-selinux", "labels", "--backend", "nope"], 2, ""),
    (["postmulti-selinux", "check", "--since", "x", "--json"], 3, ["error", "ok", "status"]),
    (["secure-child", "postfix-sub", "--port", "99999", "--json"], 2, ["error", "ok"]),
    (["postmulti-selinux", "check", "--root", "/nonexistent", "postfix-sub", "--json"], 3,
     ["error", "ok", "status"]),
    (["postmulti-selinux", "avc", "--install", "--json"], 1, ["error", "ok"]),
    (["secure-child"], 2, ""),                                  # no NAME: a usage error
]


def _probe(bindir, env=None):
    """Run CASES with the console scripts in ``bindir``; return the list of problems."""
    from postmulti_selinux import __version__
    problems = []
    for argv, code, stdout_kind in CASES:
        proc = subprocess.run([os.path.join(bindir, argv[0])] + argv[1:], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, env=env,
                              cwd="/", timeout=60)
        errors = [line for line in proc.stderr.splitlines() if line.strip()]
        wrong = []
        if proc.returncode != code:
            wrong.append("exit {} (want {})".format(proc.returncode, code))
        if "Traceback" in proc.stderr or len(errors) != (0 if code == 0 else 1):
            wrong.append("stderr {!r}".format(proc.stderr[-600:]))
        if stdout_kind == "usage" and "Usage:" not in proc.stdout:
            wrong.append("no usage text")
        elif stdout_kind == "version" and __version__ not in proc.stdout:
            wrong.append("no version")
        elif isinstance(stdout_kind, list):
            try:
                data = json.loads(proc.stdout)
                if sorted(data) != stdout_kind or data["ok"] is not False:
                    wrong.append("JSON {!r}".format(data))
            except ValueError:
                wrong.append("stdout is not one JSON object: {!r}".format(proc.stdout))
        elif stdout_kind == "" and code and proc.stdout.strip():
            wrong.append("stdout {!r}".format(proc.stdout))
        if argv[1:] == ["avc", "--help"] and "[default: auto]" not in proc.stdout:
            wrong.append("show_default: no [default: auto] for --backend")
        if wrong:
            problems.append("{}: {}".format(" ".join(argv), "; ".join(wrong)))
    return problems


def test_console_scripts_answer_the_cases_with_this_interpreters_click():
    """The case table holds on the newest click (the interpreter running the tests)."""
    bindir = os.path.dirname(sys.executable)
    if not os.path.exists(os.path.join(bindir, "secure-child")):
        pytest.skip("the console scripts are not installed next to {}".format(sys.executable))
    assert _probe(bindir) == []


@pytest.mark.distrolibs
def test_el9_click_and_jinja2_run_the_cli_and_template_tests(el9_venv):
    _assert_pinned(el9_venv)
    assert _probe(el9_venv.bin, _clean_env(el9_venv)) == []
    _run_subset(el9_venv, SUBSET)


@pytest.mark.distrolibs
def test_el8_click_runs_the_cli_and_template_tests(click67_venv):
    _assert_pinned(click67_venv)
    assert _probe(click67_venv.bin, _clean_env(click67_venv)) == []
    _run_subset(click67_venv, [t for t in SUBSET if t not in NEEDS_CLICK7_RUNNER])


_RENDER = """\
import json, os, sys
if os.environ.get("DISTROLIBS_COLLECTIONS_ALIASES"):
    # Only so that jinja2 2.10.1 imports on Python >= 3.10 (see the test module's docstring).
    import collections, collections.abc
    for name in collections.abc.__all__:
        setattr(collections, name, getattr(collections.abc, name))
import jinja2
from postmulti_selinux.avc import render
from postmulti_selinux.avc.records import Stamp
from postmulti_selinux.avc.triage import Finding, RoleRule, Rule

findings = [
    Finding("missing_rule", "gap", rule=Rule("postfix_master_t", "postfix_etc_t", "dir",
                                             ("setattr", "rmdir")), count=3,
            first=Stamp(1716800000.1, 101)),
    Finding("missing_rule", "gap", rule=Rule("postfix_smtpd_t", "postfix_etc_t", "file",
                                             ("read",)), count=1, first=None),
    Finding("role", "role", role_rule=RoleRule("unconfined_r", "postfix_master_t"), count=2,
            first=Stamp(1716800001.5, 7)),
]
entries = [{"regex": "/var/spool/postfix-sub/etc/resolv\\\\.conf", "filetype": "--",
            "context": "system_u:object_r:etc_t:s0"},
           {"regex": "/etc/postfix-sub", "filetype": "-d", "context": "system_u:object_r:postfix_etc_t:s0"}]
module = render.render_module("postmulti_avc", "1.1.habc", findings, fc_entries=entries)
empty = render.render_module("postmulti_avc", "1.2", [])
try:
    render._environment().from_string("{{ nope }}").render()
    strict = False
except jinja2.UndefinedError:
    strict = True
print(json.dumps({"jinja2": jinja2.__version__, "file": jinja2.__file__, "te": module.te,
                  "fc": module.fc, "empty": empty.te, "strict": strict}))
"""


def _render(python, env, cwd):
    proc = subprocess.run([python, "-c", _RENDER], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=env, cwd=cwd, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.distrolibs
def test_jinja2_2_10_1_engine_renders_our_templates_like_2_11_and_3(el9_venv, tmp_path):
    """Template language only; jinja2 2.10.1 gets the collections aliases (see docstring)."""
    wheels = str(tmp_path / "wheels")
    proc = _run([el9_venv.python, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                 "--no-deps", "--only-binary", ":all:", "-d", wheels,
                 "jinja2=={}".format(EL8_JINJA2)], 120)
    if proc.returncode != 0:
        if any(marker in proc.stdout for marker in _NETWORK):
            pytest.skip("cannot download jinja2 {}: {}".format(EL8_JINJA2, proc.stdout[-500:]))
        pytest.fail(proc.stdout[-1500:])
    unpacked = str(tmp_path / "jinja2-{}".format(EL8_JINJA2))
    for wheel in os.listdir(wheels):
        with zipfile.ZipFile(os.path.join(wheels, wheel)) as archive:
            archive.extractall(unpacked)

    env = _clean_env(el9_venv)
    plain = dict(env, PYTHONPATH=unpacked)
    probe = subprocess.run([el9_venv.python, "-c", "import jinja2"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, env=plain,
                           cwd=el9_venv.work, timeout=60)
    if sys.version_info >= (3, 10):  # the reason EL8's jinja2 is not run for real here
        assert probe.returncode != 0 and "from collections import" in probe.stdout, probe.stdout

    old = _render(el9_venv.python, dict(plain, DISTROLIBS_COLLECTIONS_ALIASES="1"),
                  el9_venv.work)
    el9 = _render(el9_venv.python, env, el9_venv.work)
    newest = _render(sys.executable, dict(os.environ, PYTHONPATH=os.path.join(REPO, "src")),
                     str(tmp_path))
    assert old["jinja2"] == EL8_JINJA2 and old["file"].startswith(unpacked), old["file"]
    assert el9["jinja2"] == EL9["jinja2"]
    assert newest["jinja2"].split(".")[0] == "3", newest["jinja2"]
    for result in (old, el9, newest):
        assert result["strict"], result["jinja2"]
    for key in ("te", "fc", "empty"):
        assert old[key] == el9[key] == newest[key], key
    assert "allow postfix_master_t postfix_etc_t:dir { rmdir setattr };" in newest["te"]
    assert "/etc/postfix-sub\t-d\tsystem_u:object_r:postfix_etc_t:s0\n" in newest["fc"]


# ---------------------------------------------------------------------------------------------
# The static scan: features newer than click 6.7 / jinja2 2.10.1, and ones click 8 / jinja2 3
# removed. (pattern, what, fallback): a hit is allowed only where ``fallback`` (a pattern) also
# appears in the same file; None: never allowed (use the fallback form named in ``what``).
# Python sources are scanned without comments and string literals, templates without {# #}.

CLICK_FEATURES = [
    (r"\bclick\.(?:exceptions\.)?Exit\b", "click.exceptions.Exit (click 7.0); use "
     "getattr(click.exceptions, 'Exit', SystemExit) as cli/errors.py does", None),
    (r"\bcase_sensitive\s*=", "Choice(case_sensitive=) (click 7.0)", None),
    (r"\bhidden\s*=", "hidden= on options/commands (click 7.0)", None),
    (r"\bshow_envvar\s*=", "show_envvar= (click 7.0)", None),
    (r"\bshow_choices\s*=", "show_choices= (click 7.0)", None),
    (r"\bshow_default\s*=\s*(?!True\b|False\b)", "show_default= other than True/False "
     "(a string: click 7.1)", None),
    (r"\bno_args_is_help\s*=", "no_args_is_help= (on Command: click 7.1)", None),
    (r"\bpath_type\s*=", "Path(path_type=) (click 8.0)", None),
    (r"\bpackage_name\s*=", "version_option(package_name=) (click 8.0)", None),
    (r"\bshell_complete\b", "shell_complete (click 8.0)", None),
    (r"\b(?:min_open|max_open|clamp)\s*=", "IntRange(min_open=/max_open=/clamp=) "
     "(click 7.0/8.0)", None),
    (r"\bclick\.(?:FloatRange|DateTime)\b", "click.FloatRange/DateTime (click 7.0)", None),
    (r"\b(?:result_callback|get_parameter_source|ParameterSource)\b",
     "result_callback/ParameterSource (click 8.0)", None),
    (r"\bprompt_required\s*=", "prompt_required= (click 8.0)", None),
    (r"\bresultcallback\b", "resultcallback (removed in click 8.2)", None),
    (r"\bclick\.(?:get_terminal_size|BaseCommand|MultiCommand)\b",
     "removed or deprecated in click 8.x", None),
    (r"\bmix_stderr\b", "CliRunner(mix_stderr=) (click 7.0, removed in 8.2)", None),
    (r"\bclick\.__version__\b", "click.__version__ (deprecated in click 8.2)", None),
]
JINJA2_FEATURES = [
    (r"\bChainableUndefined\b", "ChainableUndefined (jinja2 2.11)", None),
    (r"\bpass_(?:context|environment|eval_context)\b", "jinja2.pass_* (jinja2 3.0)", None),
    (r"\b(?:contextfilter|environmentfilter|evalcontextfilter|contextfunction|"
     r"environmentfunction|evalcontextfunction)\b", "jinja2 *filter/*function decorators "
     "(removed in jinja2 3.1)", None),
    (r"\bjinja2\.(?:Markup|escape)\b", "jinja2.Markup/escape (removed in jinja2 3.1)", None),
    (r"\bfrom\s+jinja2\s+import\s+[^\n]*\b(?:Markup|escape)\b",
     "jinja2.Markup/escape (removed in jinja2 3.1)", None),
    (r"\bsoft_unicode\b", "markupsafe.soft_unicode (removed in MarkupSafe 2.1)", None),
    (r"\bsoft_str\b", "markupsafe.soft_str (MarkupSafe 2.0)", None),
    (r"\bjinja2\.ext\.(?:with_|autoescape)\b", "with_/autoescape extensions (removed in jinja2 3.0)",
     None),
]
TEMPLATE_FEATURES = [
    (r"\|\s*items\b", "the items filter (jinja2 3.1)", None),
    (r"\bmap\([^)]*\bdefault\s*=", "map(default=) (jinja2 2.11)", None),
    (r"\bgroupby\([^)]*\b(?:default|case_sensitive)\s*=", "groupby(default=/case_sensitive=) "
     "(jinja2 3.0/3.1)", None),
    (r"\bindentfirst\b", "indent(indentfirst=) (removed in jinja2 3.0)", None),
    (r"\+%\}|\+\}\}|\+#\}", "'+' before a closing delimiter (jinja2 3.0)", None),
    (r"\{%-?\s*(?:break|continue)\b", "loop controls (need the loopcontrols extension)", None),
    (r"\bloop\.(?:previtem|nextitem|changed)\b", "loop.previtem/nextitem/changed (jinja2 2.10: "
     "fine for 2.10.1, listed so that a lower bound of 2.9 is never assumed)", "jinja2>=2.10"),
]


def _python_code(text):
    """``text`` with comments and string literals blanked out (line numbers kept)."""
    lines = text.splitlines(True)
    chars = [list(line) for line in lines]
    feed = iter(lines)
    for tok in tokenize.generate_tokens(lambda: next(feed, "")):
        if tok.type not in (tokenize.COMMENT, tokenize.STRING):
            continue
        (srow, scol), (erow, ecol) = tok.start, tok.end
        for row in range(srow, erow + 1):
            line = chars[row - 1]
            for i in range(scol if row == srow else 0, ecol if row == erow else len(line)):
                if line[i] != "\n":
                    line[i] = " "
    return "".join("".join(line) for line in chars)


def _template_code(text):
    return re.sub(r"\{#.*?#\}", "", text, flags=re.S)


def scan(code, features, whole=None):
    """Problems in ``code``: features hit without their fallback (looked for in ``whole``)."""
    problems = []
    for pattern, what, fallback in features:
        match = re.search(pattern, code)
        if match and not (fallback and fallback in (whole if whole is not None else code)):
            line = code.count("\n", 0, match.start()) + 1
            problems.append("line {}: {!r}: {}".format(line, match.group(0), what))
    return problems


def _our_sources():
    """Every Python source that imports click or jinja2, and every template."""
    found = []
    for top, _dirs, files in os.walk(os.path.join(REPO, "src")):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(top, name)
                with open(path) as handle:
                    text = handle.read()
                if re.search(r"^\s*(?:import|from)\s+(?:click|jinja2|markupsafe)\b", text, re.M):
                    found.append((path, text))
    templates = os.path.join(REPO, "policy_templates")
    for name in sorted(os.listdir(templates)):
        if name.endswith(".j2"):
            with open(os.path.join(templates, name)) as handle:
                found.append((os.path.join(templates, name), handle.read()))
    return found


def test_sources_use_nothing_newer_than_el8_click_and_jinja2():
    sources = _our_sources()
    names = set(os.path.relpath(p, REPO) for p, _ in sources)
    assert "src/postmulti_selinux/avc/render.py" in names and \
        "src/postmulti_selinux/cli/errors.py" in names and \
        "policy_templates/avc_module.te.j2" in names, names
    with open(os.path.join(REPO, "setup.cfg")) as handle:
        setup_cfg = handle.read()
    problems = []
    for path, text in sources:
        if path.endswith(".j2"):
            found = scan(_template_code(text), TEMPLATE_FEATURES, setup_cfg)
        else:
            found = scan(_python_code(text), CLICK_FEATURES + JINJA2_FEATURES)
        problems.extend("{}: {}".format(os.path.relpath(path, REPO), p) for p in found)
    assert problems == []


def test_the_click_exit_fallback_is_in_place():
    """click 6.7 has no click.exceptions.Exit: naming it in an except clause raises
    AttributeError the moment any exception reaches that clause (`avc --help` was a traceback)."""
    import click

    from postmulti_selinux.cli import errors
    with open(os.path.join(REPO, "src/postmulti_selinux/cli/errors.py")) as handle:
        text = handle.read()
    assert 'getattr(click.exceptions, "Exit", SystemExit)' in text
    assert errors._CLICK_EXIT is getattr(click.exceptions, "Exit", SystemExit)


@pytest.mark.parametrize("snippet, kind", [
    ("click.Choice(['a'], case_sensitive=False)", "py"),
    ("@click.option('--x', hidden=True)", "py"),
    ("except click.exceptions.Exit:", "py"),
    ("click.Path(path_type=str)", "py"),
    ("click.version_option(package_name='x')", "py"),
    ("click.IntRange(0, 5, min_open=True)", "py"),
    ("u = jinja2.ChainableUndefined", "py"),
    ("from jinja2 import Markup", "py"),
    ("{% for k, v in d | items %}{% endfor %}", "j2"),
    ("{{ xs | map(attribute='a', default='') | join }}", "j2"),
])
def test_the_scan_finds_what_it_looks_for(snippet, kind):
    if kind == "py":
        assert scan(_python_code(snippet + "\n"), CLICK_FEATURES + JINJA2_FEATURES), snippet
    else:
        assert scan(_template_code(snippet), TEMPLATE_FEATURES, ""), snippet
    # and not in comments, docstrings or template comments
    hidden = ("# " + snippet + "\n") if kind == "py" else ("{# " + snippet + " #}")
    code = _python_code(hidden) if kind == "py" else _template_code(hidden)
    assert scan(code, CLICK_FEATURES + JINJA2_FEATURES + TEMPLATE_FEATURES, "") == []
