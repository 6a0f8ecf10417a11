"""Apply a plan: lock, journal each action before it runs, one policy transaction, restart
through the service manager, verify, and self-heal from new denials for a bounded number of rounds.
"""

import collections
import contextlib
import os
import shutil
import signal
import tempfile
import time
import typing

from postmulti_selinux import probes
from postmulti_selinux.errors import ToolError
from postmulti_selinux.plan.action import Context
from postmulti_selinux.plan.actions import (
    CommitPolicy, ConfigAction, CreateChild, RelabelChild, wrong_labels)
from postmulti_selinux.plan.build import Spec, build_host_plan
from postmulti_selinux.plan.journal import HOST, Journal, Lock
from postmulti_selinux.plan.observe import Observation, require_selinux, selinux_state
from postmulti_selinux.plan.recovery import keep_parent_running, set_aside
from postmulti_selinux.plan.scope import resolve_scope
from postmulti_selinux.plan.verify import (
    Baseline, child_trees, label_check, master_pid, verify_child)
from postmulti_selinux.postfix.layout import child_start_problems
from postmulti_selinux.postfix.manage import check_name
from postmulti_selinux.selinux import PolicyTransaction
from postmulti_selinux.selinux.store_libsemanage import show_messages as show_store_messages

MODULE_NAME = "postmulti_selinux"
MAX_ROUNDS = 3
KILL_HOOK = "POSTMULTI_SELINUX_TEST_KILL_AT"  # test hook: SIGKILL right after journalling KIND


RECIPIENT = "postmaster"  # the recipient each listener must accept (RFC 5321 requires it)


class Options(object):
    """What the user asked for (the CLI flags of secure-child); ``listen``, ``create`` and
    ``group`` are those of :func:`secure`'s one child (a Spec carries them per child)."""

    def __init__(self, listen=None, create=False, group=None, dry_run=False, restart=True,
                 config_dir=None, root="/", state=None):
        self.listen = listen
        self.create = create
        self.group = group
        self.dry_run = dry_run
        self.restart = restart
        self.config_dir = config_dir
        self.root = root
        self.state = state


class Phases(object):
    """Seconds spent in each phase of a run (observe, config, commit, relabel, restart,
    verify, self_heal), for --json and the VM figures."""

    def __init__(self):
        self.seconds = collections.OrderedDict()  # type: typing.Dict[str, float]
        self.started = time.monotonic()

    @contextlib.contextmanager
    def __call__(self, name):
        began = time.monotonic()
        try:
            yield
        finally:
            self.add(name, time.monotonic() - began)

    def add(self, name, seconds):
        # type: (str, float) -> None
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def as_dict(self):
        # type: () -> dict
        data = dict((k, round(v, 3)) for k, v in self.seconds.items())
        data["total"] = round(time.monotonic() - self.started, 3)
        return data


PHASE_OF = {"commit-policy": "commit", "relabel": "relabel"}  # other actions: "config"


class ChildResult(object):
    """One child's outcome in a run: its verification, notes, and why it was not secured."""

    def __init__(self, instance):
        # type: (str) -> None
        self.instance = instance
        self.verification = []  # type: typing.List[dict]
        self.notes = []  # type: typing.List[str]
        self.error = ""

    @property
    def ok(self):
        # type: () -> bool
        return not self.error and all(c["ok"] for c in self.verification)

    def as_dict(self):
        # type: () -> dict
        data = {"instance": self.instance, "ok": self.ok, "secured": self.ok,
                "verification": self.verification, "notes": self.notes}
        if self.error:
            data["error"] = self.error
        return data


class Report(object):
    """What a run did, for the human summary and --json. One child's run prints the child's
    report; a run over several (``host_form``) prints one host report with a part per child."""

    def __init__(self, instances, dry_run, host_form=False):
        # type: (typing.Any, bool, bool) -> None
        self.instances = [instances] if isinstance(instances, str) else list(instances)
        self.dry_run = dry_run
        self.host_form = host_form
        self.plans = []  # type: typing.List[dict]
        self.applied = []  # type: typing.List[dict]
        self.restarts = 0
        self.store_rebuilds = 0
        self.rounds = []  # type: typing.List[dict]
        self.notes = []  # type: typing.List[str]
        self.diff = {"before": {}, "after": {}}  # type: dict
        self.children = collections.OrderedDict(
            (name, ChildResult(name)) for name in self.instances)
        self.phases = Phases()
        self.probes = {}  # type: dict

    @property
    def instance(self):
        # type: () -> str
        return ", ".join(self.instances)

    def child(self, name):
        # type: (str) -> ChildResult
        return self.children[name]

    @property
    def verification(self):
        # type: () -> typing.List[dict]
        """Every check of every child (each tagged with its child in the host form)."""
        checks = []
        for result in self.children.values():
            for check in result.verification:
                checks.append(dict(check, instance=result.instance) if self.host_form else check)
        return checks

    @property
    def changed(self):
        """Whether the run changed the host; for a dry run, whether a real run would."""
        if self.dry_run:
            return any(not a.get("satisfied", False)
                       for plan in self.plans for a in plan["actions"])
        return bool(self.applied or self.restarts)

    @property
    def ok(self):
        return all(c.ok for c in self.children.values())

    def as_dict(self):
        plan = {"instance": self.instance, "actions": [], "notes": []}
        for item in self.plans:
            plan["actions"].extend(item["actions"])
            plan["notes"].extend(item["notes"])
        notes = list(self.notes)
        if not self.host_form:
            notes += self.children[self.instances[0]].notes
        data = {"instance": self.instance, "dry_run": self.dry_run, "changed": self.changed,
                "ok": self.ok, "plan": plan, "applied": self.applied,
                "restarts": self.restarts, "store_rebuilds": self.store_rebuilds,
                "rounds": self.rounds, "verification": self.verification,
                "notes": notes, "diff": self.diff, "timings": self.phases.as_dict(),
                "probes": self.probes}
        if self.host_form:
            del data["instance"]
            del plan["instance"]
            data["instances"] = list(self.instances)
            data["children"] = [c.as_dict() for c in self.children.values()]
        elif self.children[self.instances[0]].error:
            data["error"] = self.children[self.instances[0]].error
        return data


def _run_actions(plan, ctx, journal, report):
    # type: (object, Context, Journal, Report) -> int
    """Apply every unsatisfied action of ``plan`` in order; return how many ran. Consecutive
    actions of a ``batched`` kind run together (their verdicts were decided up front), and
    consecutive ``staged`` ones are journalled together (they only join the transaction)."""
    actions = list(plan.actions)
    for action in actions:  # decided before the first edit (see ConfigAction.satisfied)
        if isinstance(action, ConfigAction):
            action.satisfied(ctx)
    ran = index = 0
    while index < len(actions):
        action = actions[index]
        index += 1
        if isinstance(action, CommitPolicy) and not ctx.transaction.pending():
            continue
        if action.satisfied(ctx):
            continue
        group = [action]
        while index < len(actions) and (
                (action.batched and type(actions[index]) is type(action))
                or (action.staged and actions[index].staged)):
            if not actions[index].satisfied(ctx):
                group.append(actions[index])
            index += 1
        if len(group) == 1:
            _apply_one(action, ctx, journal, report)
        elif action.batched:
            _apply_together(group, ctx, journal, report)
        else:
            _apply_in_turn(group, ctx, journal, report)
        ran += len(group)
    return ran


def _begin(actions, ctx, journal):
    # type: (list, Context, Journal) -> typing.List[dict]
    """Journal ``actions`` (one save) before any of them changes anything, and die here when
    the kill hook names one of their kinds."""
    entries = [journal.begin(action, action.snapshot(ctx), save=False) for action in actions]
    journal.save()
    for action in actions:
        if os.environ.get(KILL_HOOK) == action.kind:
            os.kill(os.getpid(), signal.SIGKILL)
        ctx.log("{}: {}".format(action.kind, action.title))
    return entries


def _done(done, journal, report, reason=None):
    # type: (list, Journal, Report, typing.Optional[str]) -> None
    """Record each (action, entry, result) of ``done`` (one journal save)."""
    for action, entry, result in done:
        journal.done(entry, result, save=False)
        item = {"kind": action.kind, "title": action.title, "reason": reason or action.reason}
        if report.host_form:
            item["instance"] = action.instance
        report.applied.append(item)
    if done:
        journal.save()


def _apply_one(action, ctx, journal, report, reason=None):
    # type: (object, Context, Journal, Report, typing.Optional[str]) -> dict
    """Journal ``action`` (before it changes anything), apply it, record the outcome."""
    entry, = _begin([action], ctx, journal)
    with report.phases(PHASE_OF.get(action.kind, "config")):
        result = action.apply(ctx)
    _done([(action, entry, result)], journal, report, reason)
    if isinstance(action, CommitPolicy):
        report.store_rebuilds += result.get("rebuilds", 0)
        ctx.transaction = PolicyTransaction(ctx.policy_root)
    return result


def _apply_in_turn(group, ctx, journal, report):
    # type: (list, Context, Journal, Report) -> None
    """Staged actions, one after another: each only adds itself to the run's transaction, so
    they are journalled before the first and recorded after the last (two saves, not 2N)."""
    entries = _begin(group, ctx, journal)
    done = []
    try:
        for action, entry in zip(group, entries):
            with report.phases(PHASE_OF.get(action.kind, "config")):
                done.append((action, entry, action.apply(ctx)))
    finally:
        _done(done, journal, report)


def _apply_together(group, ctx, journal, report):
    # type: (list, Context, Journal, Report) -> None
    """Journal every action of ``group`` (one kind), apply them together, record each
    outcome; the first failure is raised once the others are recorded."""
    entries = _begin(group, ctx, journal)
    with report.phases(PHASE_OF.get(group[0].kind, "config")):
        results = type(group[0]).apply_together(ctx, group)
    failures = [r for r in results if isinstance(r, ToolError)]
    _done([(a, e, r) for a, e, r in zip(group, entries, results)
           if not isinstance(r, ToolError)], journal, report)
    if failures:
        raise failures[0]


def _snapshot_state(obs):
    # type: (Observation) -> dict
    """A small before/after picture for --json's diff: labels, ports, service disable."""
    if obs.child is None:
        return {"child": None}
    wrong = wrong_labels(obs.policy_root, [(p, c) for _, p, c in obs.dir_pairs()])
    return {"child": obs.child.config_directory,
            "enabled": obs.child.enabled,
            "master_service_disable": list(obs.child.master_service_disable),
            "listeners": ["{}:{}".format(l.address, l.port) for l in obs.child.listeners],
            "mislabeled_paths": len(wrong),
            "mislabeled_examples": ["{} {} (parent's: {})".format(
                w.path, w.current, w.expected) for w in wrong[:5]]}


def _host_snapshot(obs, report):
    # type: (Observation, Report) -> dict
    """_snapshot_state of the run's child, or of each child by name in the host form."""
    if not report.host_form:
        return _snapshot_state(obs.for_child(report.instances[0]))
    return dict((name, _snapshot_state(obs.for_child(name))) for name in report.instances)


def secure(name, options, log=None, meter=None):
    # type: (str, Options, typing.Callable, typing.Callable) -> Report
    """The one-shot for one child: plan, apply, restart, verify (and self-heal)."""
    return secure_children([Spec(name, options.listen, options.create, options.group)], options,
                           log, meter)


def secure_children(specs, options, log=None, meter=None, host_form=None):
    # type: (typing.List[Spec], Options, typing.Callable, typing.Callable, typing.Optional[bool]) -> Report
    """Secure every child in ``specs`` in one run: one observation, one plan, one policy
    transaction, one relabel, one restart, then verification per child. Dry run: plan only.

    A real run takes the lock before it looks at the host, so that a plan is never built from
    a look that another run has made stale. Offline (``--root``), nothing is restarted.
    ``host_form`` (default: more than one child) makes the report the host report."""
    show_store_messages(log is not None)
    log = log or (lambda text: None)
    names = [spec.name for spec in specs]
    for name in names:
        check_name(name)
    if not names:
        raise ToolError("no child instance to secure")
    if len(set(names)) != len(names):
        raise ToolError("a child is named twice: {}".format(", ".join(names)))
    scope = resolve_scope(options.root, options.config_dir, options.state)
    host_form = len(specs) > 1 if host_form is None else host_form
    if options.dry_run:
        return _secure(specs, options, scope, log, meter, host_form)
    with Lock(scope.state_dir):
        return _secure(specs, options, scope, log, meter, host_form)


def _secure(specs, options, scope, log, meter, host_form):
    # type: (list, Options, typing.Any, typing.Callable, typing.Callable, bool) -> Report
    names = [spec.name for spec in specs]
    report = Report(names, options.dry_run, host_form)
    counted = probes.snapshot()
    try:
        _secure_observed(specs, options, scope, log, meter, report)
    finally:
        report.probes = probes.since(counted)
    return report


def _secure_observed(specs, options, scope, log, meter, report):
    names = report.instances
    several = len(specs) > 1
    with report.phases("observe"):
        obs = Observation(None, scope.config_dir, scope.root)
        require_selinux(obs.selinux)
        if several:
            for spec in specs:
                if not spec.create:
                    obs.host.child(spec.name)  # an unknown name is a usage error, before all
        plan = build_host_plan(obs, specs, skip_failed=several)
    restart = options.restart and not scope.offline
    if scope.offline and options.restart:
        report.notes.append("offline (--root {}): Postfix was not restarted and nothing was "
                            "probed; restart Postfix on the host this root belongs to".format(
                                scope.root))
    _record_failed(plan, report)
    transaction = PolicyTransaction(obs.policy_root)
    if any(obs.for_child(n).child is not None for n in names):
        log("policy {} ({}); port questions answered by {}; store committed by {}; service "
            "manager {}".format(obs.policy_root.policy_file, obs.selinux.policy_type,
                                obs.port_check().backend_description,
                                transaction.backend_name, obs.service_manager))
    ctx = Context(obs.manager, obs.policy_root, transaction, log, meter)
    report.diff["before"] = _host_snapshot(obs, report)
    if options.dry_run:
        report.plans.append(plan.as_dict(ctx, tagged=report.host_form))
        if any(isinstance(a, CreateChild) for a in plan.actions):
            report.notes.append("dry run: the child does not exist yet, so later steps are "
                                "planned after --create makes it")
        report.diff["after"] = report.diff["before"]
        return
    journal = Journal(scope.state_dir, names[0] if not several else HOST, scope.root,
                      covers=names if several else None)
    report.plans.append(plan.as_dict(ctx, tagged=report.host_form))
    ran = _run_actions(plan, ctx, journal, report)
    if any(isinstance(a, CreateChild) for a in plan.actions):
        with report.phases("observe"):
            obs.refresh()
            plan = build_host_plan(obs, [s._replace(create=False) for s in specs
                                         if s.name not in report_failed(report)],
                                   skip_failed=several)
        _record_failed(plan, report)
        report.plans.append(plan.as_dict(ctx, tagged=report.host_form))
        ran += _run_actions(plan, ctx, journal, report)
    with report.phases("observe"):
        obs.refresh()
    views = [obs.for_child(n) for n in names if not report.child(n).error]
    _restart_and_verify(obs, views, ctx, journal, report, options, ran, log, restart)
    report.diff["after"] = _host_snapshot(obs, report)


def report_failed(report):
    # type: (Report) -> typing.List[str]
    return [name for name, result in report.children.items() if result.error]


def _record_failed(plan, report):
    for name, why in plan.failed.items():
        report.child(name).error = why
        report.child(name).notes.append("{} is not secured: {}; the others are".format(name, why))


def _restart_and_verify(obs, views, ctx, journal, report, options, ran, log, restart):
    """Restart once when something changed (or a child is unhealthy), verify each child,
    self-heal the ones that fail. A child that cannot start is set aside (see recovery)."""
    state_fn = lambda: selinux_state(options.root)  # noqa: E731
    if not views:
        return
    if not restart:
        report.notes.append("restart skipped (--no-restart): verify by restarting Postfix")
        return
    if not ran:
        with report.phases("verify"):
            checks = dict((v.name, _verify(v, state_fn, time.time(), options, settle=0))
                          for v in views)
        if all(c.ok for found in checks.values() for c in found):
            for view in views:
                report.child(view.name).verification = [c._asdict() for c in checks[view.name]]
            return
        report.notes.append("no configuration change was needed but {} not healthy: "
                            "restarting".format("the child is" if len(views) == 1 else
                                                "a child is"))
    apply_action = lambda action, reason: _apply_one(  # noqa: E731
        action, ctx, journal, report, reason)
    problems = dict((v.name, child_start_problems(obs.manager.postfix, v.child)) for v in views)
    startable = [v for v in views if not problems[v.name]]
    for view in views:
        if problems[view.name]:
            set_aside(view, ctx, apply_action, report.child(view.name),
                      "it cannot start: " + "; ".join(problems[view.name]), bool(startable))
    if not startable:
        keep_parent_running(obs, report, log)
        return
    for round_number in range(1, MAX_ROUNDS + 1):
        try:
            with report.phases("restart"):
                report.restarts += 1
                began = obs.service_manager.restart([v.name for v in startable], log)
        except ToolError as exc:
            down = [v for v in startable if master_pid(v.child.queue_directory) is None]
            down = down or startable  # which one failed cannot be told: all are set aside
            startable = [v for v in startable if v not in down]
            for view in down:
                set_aside(view, ctx, apply_action, report.child(view.name), str(exc),
                          bool(startable))
            if not startable:
                keep_parent_running(obs, report, log)
                return
            continue  # start again without the children that could not
        time.sleep(1.0)
        with report.phases("verify"):
            failed = {}
            for view in startable:
                checks = _verify(view, state_fn, began, options)
                report.child(view.name).verification = [c._asdict() for c in checks]
                bad = [c.name for c in checks if not c.ok]
                if bad:
                    failed[view.name] = bad
        round_info = {"round": round_number, "failed": (
            ["{}: {}".format(n, c) for n, bad in failed.items() for c in bad] if report.host_form
            else [c for bad in failed.values() for c in bad])}
        report.rounds.append(round_info)
        if not failed:
            return
        if all(bad == ["labels"] for bad in failed.values()) and _relabel_in_place(
                [v for v in startable if v.name in failed], ctx, journal, report, round_number):
            return
        with report.phases("self_heal"):
            fixed = _self_heal(obs, [v for v in startable if v.name in failed], ctx, journal,
                               report, options, began, round_info, log,
                               relabel=[n for n, bad in failed.items() if "labels" in bad])
        if not fixed:
            return


def _relabel_in_place(views, ctx, journal, report, round_number):
    # type: (list, Context, Journal, Report, int) -> bool
    """Only the label check failed (files Postfix made at start, in trees the children's
    running masters already serve without a denial): relabel them and check again, with no
    restart. Whether every label check passes now."""
    pairs = dict((view.name, [(p, c) for _, p, c in view.dir_pairs()]) for view in views)
    with report.phases("self_heal"):
        _apply_one(RelabelChild([pair for view in views for pair in pairs[view.name]], 0), ctx,
                   journal, report,
                   "files Postfix made at start; the children run and answer, so no restart")
    failed = []
    with report.phases("verify"):
        for view in views:
            check = label_check(view.policy_root, pairs[view.name])
            result = report.child(view.name)
            result.verification = [check._asdict() if item["name"] == "labels" else item
                                   for item in result.verification]
            if not check.ok:
                failed.append("{}: labels".format(view.name) if report.host_form else "labels")
    report.rounds.append({"round": round_number + 1, "failed": failed, "restart": False})
    return not failed


def _verify(obs, state_fn, since, options, settle=20.0):
    # type: (Observation, typing.Callable, float, Options, float) -> list
    """verify_child, and the child's labels by the rule ``check`` uses (one rule, both places)."""
    checks = verify_child(obs.child, state_fn, since, RECIPIENT, settle=settle)
    return checks + [label_check(obs.policy_root, [(p, c) for _, p, c in obs.dir_pairs()])]


def _self_heal(obs, views, ctx, journal, report, options, since, round_info, log, relabel=()):
    # type: (...) -> bool
    """Explain the denials since ``since`` of the children that failed; fix by labels first
    (one relabel of their trees), then (guarded) one module for all their true policy gaps.
    ``relabel``: the children whose label check failed (files Postfix made at start)."""
    from postmulti_selinux.avc import analysis, build, paths, policy
    audit = "/var/log/audit/audit.log"
    if not os.path.exists(audit):
        return False
    query = policy.open_policy(obs.policy_root.policy_file, "auto")
    expected = paths.SelabelExpected(obs.policy_root.file_contexts)
    instances = [paths.InstanceDirs(i.name or "postfix", i.config_directory, i.queue_directory,
                                    i.data_directory) for i in obs.host.instances]
    mapper = paths.PathMapper(instances, parent=instances[0])
    findings, seen, mislabeled = [], set(), set(relabel)
    for view in views:
        result = analysis.analyse(query, files=[audit], expected_context=expected, mapper=mapper,
                                  since=since, instance=view.child.name)
        baseline = Baseline(since, child_trees(view.child))
        for finding in result.findings:
            if finding.kind == "out_of_scope" or baseline.covers(
                    finding.source, finding.target, finding.tclass, finding.perms):
                continue
            if finding.kind == "mislabel":
                mislabeled.add(view.name)
            if finding.line() not in seen:
                seen.add(finding.line())
                findings.append(finding)
    round_info["findings"] = [f.line() for f in findings]
    if not findings and not mislabeled:
        return False
    acted = False
    pairs = [(p, c) for view in views if view.name in mislabeled for _, p, c in view.dir_pairs()]
    if pairs:
        result = _apply_one(RelabelChild(pairs, 0), ctx, journal, report,
                            "new denials on files created after the first relabel")
        acted = result.get("changed", 0) > 0
    installed = build.read_installed(MODULE_NAME, obs.policy_root.policy_type,
                                     obs.policy_root.root)
    module, unchanged = analysis.plan_module(findings, MODULE_NAME, installed)
    if module is not None and not unchanged:
        workdir = tempfile.mkdtemp(prefix="postmulti-selinux-module-")
        try:
            built = build.compile_module(module, workdir)
            ctx.transaction.install_module(built.pp_path)
            commit = CommitPolicy(1, "install policy module {} {}".format(
                module.name, module.version))
            _apply_one(commit, ctx, journal, report, "true policy gaps: " + "; ".join(
                f.line() for f in findings if f.rule or f.role_rule))
            acted = True
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return acted
