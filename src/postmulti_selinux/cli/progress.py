"""Progress of the long steps on a terminal: a ``click.progressbar`` over the relabel walk, and
a line before and after the policy store commit (one opaque libsemanage rebuild)."""

import os
import time
import typing

import click


class RelabelBar(object):
    """The meter :func:`postmulti_selinux.selinux.relabel` drives: ``begin`` counts the trees
    (one quick walk, so the bar has a length), ``update`` moves it, ``done`` closes it."""

    def __init__(self, label):
        # type: (str) -> None
        self.label = label
        self.bar = None  # type: typing.Any
        self.shown = 0

    def begin(self, tops):
        # type: (typing.Sequence[str]) -> None
        total = 0
        for top in tops:
            total += 1
            for _, dirs, files in os.walk(top):
                total += len(dirs) + len(files)
        self.bar = click.progressbar(length=max(total, 1), label=self.label)
        self.bar.__enter__()

    def update(self, examined, changed):
        # type: (int, int) -> None
        if self.bar is not None and examined > self.shown:
            self.bar.update(examined - self.shown)
            self.shown = examined

    def done(self, examined, changed):
        # type: (int, int) -> None
        if self.bar is not None:
            self.update(examined, changed)
            self.bar.__exit__(None, None, None)
            self.bar = None


class CommitLine(object):
    """The policy commit has no steps to count: say that it runs, then how long it took."""

    def __init__(self, label):
        # type: (str) -> None
        self.label = label
        self.started = 0.0

    def begin(self, tops=()):
        self.started = time.monotonic()
        click.echo("{}: rebuilding the policy (this can take a minute)...".format(self.label))

    def update(self, examined, changed):
        """Nothing to count."""

    def done(self, examined=0, changed=0):
        click.echo("{}: done in {:.1f} s".format(self.label, time.monotonic() - self.started))


def terminal_meter(kind):
    # type: (str) -> typing.Any
    """The meter for step ``kind`` (``relabel``, ``commit``) when stdout is a terminal, or None."""
    if not click.get_text_stream("stdout").isatty():
        return None
    return RelabelBar("relabel") if kind == "relabel" else CommitLine("policy store")
