#!/usr/bin/env python3
"""Regenerate man/secure-child.8 and man/postmulti-selinux.8 from the commands' own help.

    python3 man/generate.py            rewrite the pages in man/ (``make man`` runs this)
    python3 man/generate.py --check    exit 1 with a diff when man/ is out of step with --help
    python3 man/generate.py -o DIR     write the pages into DIR instead

Each command's help is read (``secure-child --help``, ``postmulti-selinux --help`` and every
``postmulti-selinux SUB --help``) and converted by help2man. Epilog blocks headed "Title:" (the
tool's "Examples:") are taken out first and rendered verbatim, as help2man would refill them:
as their own section (EXAMPLES) on a program's page, after the options in a subcommand's part.
The page of postmulti-selinux gets a COMMANDS section with one subsection per subcommand, its
help2man SYNOPSIS, DESCRIPTION and OPTIONS folded in, handed to the page's help2man run as an
--include file. New subcommands, options and epilogs come along without changes here.

The help is read from this tree's src/ (PYTHONPATH) with the given Python (default: the one
running this script; it needs click and jinja2), COLUMNS=80 and a UTF-8 locale, so the pages
do not depend on the terminal. The date on the pages is the newest debian/changelog entry's
(SOURCE_DATE_EPOCH), so they change only when the help or the release changes. Characters
outside ASCII are written as groff \\[uXXXX] escapes.
"""

import argparse
import difflib
import email.utils
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PAGES = ("postmulti-selinux.8", "secure-child.8")
REGENERATE = "make man  (or: python3 man/generate.py)"

# The one-line descriptions of the NAME sections (help2man -n).
NAMES = {
    "postmulti-selinux": "run Postfix multi-instance children with SELinux enforcing",
    "secure-child": "secure a Postfix multi-instance child while SELinux stays enforcing",
}
# The click object of postmulti_selinux.cli.main behind each program.
ENTRY = {"postmulti-selinux": "main", "secure-child": "secure_child"}

SEE_ALSO = {
    "postmulti-selinux": r""".BR secure\-child (8),
.BR postmulti (1),
.BR semanage (8),
.BR semodule (8),
.BR restorecon (8),
.BR audit2allow (1)""",
    "secure-child": r""".BR postmulti\-selinux (8),
.BR postmulti (1),
.BR semanage (8)""",
}


def _changelog_epoch():
    # type: () -> int
    """The date of the newest debian/changelog entry, as seconds since the epoch."""
    with open(os.path.join(ROOT, "debian", "changelog")) as handle:
        for line in handle:
            if line.startswith(" -- "):
                return int(email.utils.parsedate_to_datetime(line.split(">", 1)[1].strip())
                           .timestamp())
    raise SystemExit("debian/changelog has no trailer line")


def _environment():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "src") + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(COLUMNS="80", LC_ALL="C.UTF-8", SOURCE_DATE_EPOCH=str(_changelog_epoch()))
    env.pop("LANGUAGE", None)
    return env


def _command(python, program, *args):
    # type: (str, str, *str) -> list
    """argv that runs PROGRAM [ARGS] from this tree (PYTHONPATH from _environment)."""
    code = "from postmulti_selinux.cli.main import {0}; {0}(prog_name={1!r})".format(
        ENTRY[program], program)
    return [python, "-c", code] + list(args)


def _run(argv, env):
    # type: (list, dict) -> str
    result = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True)
    if result.returncode != 0:
        raise SystemExit("{} failed ({}):\n{}".format(" ".join(argv), result.returncode,
                                                        result.stderr))
    return result.stdout


def _help2man(program_path, version, env, name=None, include=None):
    # type: (str, str, dict, str, str) -> str
    argv = ["help2man", "--no-info", "--section=8", "--locale=C.UTF-8",
            "--version-string=" + version, "--name=" + (name or "-")]
    if include:
        argv.append("--include=" + include)
    return _run(argv + [program_path], env)


def _sections(page):
    # type: (str) -> list
    """[(title, body lines)] of a help2man page, in order (the text before .SH NAME dropped)."""
    sections = []  # type: list
    for line in page.splitlines():
        match = re.match(r'\.SH "?([^"]*)"?$', line)
        if match:
            sections.append((match.group(1), []))
        elif sections:
            sections[-1][1].append(line)
    return sections


def _split_epilog(text):
    # type: (str) -> tuple
    """(help without its epilog blocks, [(title, lines)]).

    click prints a command's epilog after the options, indented by two; a block that starts
    with a "Title:" line (the tool's "Examples:", kept as written with click's \b) is taken
    out and rendered verbatim, since help2man would refill it as prose. Other epilog text is
    left to help2man.
    """
    lines = text.splitlines()
    blocks = []  # type: list
    keep = []
    seen_listing = False
    for number, line in enumerate(lines):
        if re.match(r"(Options|Commands):$", line):
            seen_listing = True
        heading = re.match(r"  ([A-Z][A-Za-z ]*):$", line)
        if seen_listing and heading and number and not lines[number - 1].strip():
            blocks.append((heading.group(1), []))
        elif blocks and (line.startswith("    ") or not line.strip()):
            blocks[-1][1].append(line[4:])
        else:
            if blocks:  # text after a block: the block ended
                seen_listing = False
            keep.append(line)
    blocks = [(title, _strip_blank(body)) for title, body in blocks]
    return "\n".join(keep).rstrip("\n") + "\n", blocks


def _strip_blank(lines):
    # type: (list) -> list
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _roff_line(line):
    # type: (str) -> str
    """One line of literal text as roff (no-fill mode)."""
    line = line.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + line if line.startswith((".", "'")) else line


def _verbatim(lines):
    # type: (list) -> list
    return [".PP", ".RS 4", ".nf"] + [_roff_line(l) for l in lines] + [".fi", ".RE"]


def _help_only(bindir, name, text):
    # type: (str, str, str) -> str
    """An executable bindir/NAME that prints TEXT, the help help2man is to convert (help2man
    is given the version, so --help is all it asks)."""
    os.makedirs(bindir, exist_ok=True)
    text_path = os.path.join(bindir, name + ".help")
    with open(text_path, "w") as handle:
        handle.write(text)
    path = os.path.join(bindir, name)
    with open(path, "w") as handle:
        handle.write("#!/bin/sh\nexec cat {}\n".format(shlex.quote(text_path)))
    os.chmod(path, 0o755)
    return path


def _subsection(program, sub, page, blocks):
    # type: (str, str, str, list) -> str
    """One subcommand's help2man page and epilog blocks, folded into a .SS of COMMANDS."""
    title = "{} {}".format(program, sub).replace("-", r"\-")
    out = ['.SS "{}"'.format(title)]
    for section, body in _sections(page):
        if section == "NAME":
            continue
        if section == "SYNOPSIS":
            out.append(".PP")
            # help2man takes the subcommand for an argument (italic); it is a literal word.
            body = [re.sub(r"^\\fI\\,{} \\/\\fR".format(re.escape(sub)),
                           r"\\fB{}\\fR ".format(sub), line) for line in body]
        elif section != "DESCRIPTION":
            out.extend([".PP", r"\fB{}:\fR".format(section.capitalize())])
        for line in body:
            match = re.match(r'\.SS "?([^"]*)"?$', line)  # no third heading level in man(7)
            out.extend([".PP", r"\fB{}\fR".format(match.group(1))] if match else [line])
    for heading, lines in blocks:
        out.extend([".PP", r"\fB{}:\fR".format(heading)] + _verbatim(lines))
    return "\n".join(out)


def _ascii(text):
    # type: (str) -> str
    return "".join(c if ord(c) < 128 else "\\[u{:04X}]".format(ord(c)) for c in text)


def generate(outdir, python=sys.executable):
    # type: (str, str) -> list
    """Write the pages into outdir; return their paths."""
    env = _environment()
    work = tempfile.mkdtemp(prefix="pms-man-")
    try:
        # "postmulti-selinux, version 0.1.0": help2man expects "PROGRAM VERSION"; pass the version.
        version = _run(_command(python, "postmulti-selinux", "--version"), env).split()[-1]
        listing = _run([python, "-c", "from postmulti_selinux.cli.main import main\n"
                        "for name, command in sorted(main.commands.items()):\n"
                        "    print(name) if not getattr(command, 'hidden', False) else None"],
                       env).split()
        subsections = []
        for sub in listing:
            help_text = _run(_command(python, "postmulti-selinux", sub, "--help"), env)
            text, blocks = _split_epilog(help_text)
            page = _help2man(_help_only(os.path.join(work, "commands"), sub, text), version, env)
            subsections.append(_subsection("postmulti-selinux", sub, page, blocks))
        includes = {
            "postmulti-selinux": "[COMMANDS]\nEach command's own help "
                                 "(\\fBpostmulti\\-selinux\\fR \\fICOMMAND\\fR \\fB\\-\\-help\\fR)."
                                 "\n" + "\n".join(subsections) + "\n",
            "secure-child": "[>DESCRIPTION]\n.PP\n.B secure\\-child\n\\fINAME\\fR is the same as\n"
                            ".B postmulti\\-selinux secure\n\\fINAME\\fR.\n",
        }
        os.makedirs(outdir, exist_ok=True)
        paths = []
        for program in sorted(NAMES):
            text, blocks = _split_epilog(_run(_command(python, program, "--help"), env))
            include = os.path.join(work, program + ".h2m")
            with open(include, "w") as handle:
                handle.write(includes[program])
                for heading, lines in blocks:
                    handle.write("[{}]\n{}\n".format(
                        heading.upper(), "\n".join(_verbatim(lines)[1:])))
                handle.write("[SEE ALSO]\n" + SEE_ALSO[program] + "\n")
            # help2man names the page after the program it runs.
            page = _help2man(_help_only(os.path.join(work, "pages"), program, text), version,
                             env, name=NAMES[program], include=include)
            target = os.path.join(outdir, program + ".8")
            with open(target, "w") as handle:
                handle.write(_ascii(page))
            paths.append(target)
        return paths
    finally:
        shutil.rmtree(work, ignore_errors=True)


def differences(python=sys.executable):
    # type: (str) -> str
    """A unified diff of the committed pages against freshly generated ones ('' if in step)."""
    tmp = tempfile.mkdtemp(prefix="pms-man-check-")
    try:
        generate(tmp, python)
        diff = []
        for page in PAGES:
            committed = os.path.join(HERE, page)
            old = open(committed).read().splitlines(True) if os.path.exists(committed) else []
            new = open(os.path.join(tmp, page)).read().splitlines(True)
            diff.extend(difflib.unified_diff(old, new, "man/" + page, "regenerated/" + page))
        return "".join(diff)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output-dir", default=HERE, help="where to write (default: man/)")
    parser.add_argument("--python", default=sys.executable,
                        help="the Python that runs the commands (default: this one)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 with a diff if man/ is out of step")
    args = parser.parse_args()
    if not shutil.which("help2man"):
        raise SystemExit("help2man is not installed (apt-get install help2man; make test does)")
    if args.check:
        diff = differences(args.python)
        if diff:
            sys.stdout.write(diff)
            raise SystemExit("man pages are out of step with --help; run: " + REGENERATE)
        print("man pages in step with --help")
        return
    for path in generate(args.output_dir, args.python):
        print("wrote", os.path.relpath(path))


if __name__ == "__main__":
    main()
