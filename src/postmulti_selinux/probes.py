"""What a run asked of the host: processes started (by program) and label walks.

Every place that starts a process or walks a child's trees calls :func:`count`; a run reads
:func:`snapshot` before and after, and ``--json`` / ``--verbose`` report the difference. The
benchmarks read the same figures (bench/bench_host.py).
"""

import collections
import os
import threading
import typing

_COUNTS = collections.Counter()  # type: typing.Counter[str]
_LOCK = threading.Lock()  # edits may run side by side (see Manager.enable_each)


def count(kind, name):
    # type: (str, str) -> None
    """Record one ``kind`` event ("process" or "walk") named ``name``."""
    with _LOCK:
        _COUNTS["{}:{}".format(kind, name)] += 1


def process(argv):
    # type: (typing.Sequence[str]) -> None
    """Record that the program ``argv[0]`` is about to be started."""
    count("process", os.path.basename(str(argv[0])) if argv else "?")


def snapshot():
    # type: () -> typing.Dict[str, int]
    with _LOCK:
        return dict(_COUNTS)


def since(before):
    # type: (typing.Dict[str, int]) -> dict
    """The counts since ``before`` (a :func:`snapshot`), as the report shows them."""
    now = snapshot()
    diff = dict((key, now[key] - before.get(key, 0)) for key in now
                if now[key] != before.get(key, 0))
    processes = dict((key.split(":", 1)[1], value) for key, value in diff.items()
                     if key.startswith("process:"))
    walks = sum(value for key, value in diff.items() if key.startswith("walk:"))
    return {"processes": processes, "processes_total": sum(processes.values()),
            "label_walks": walks}
