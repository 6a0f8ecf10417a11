"""Apply a plan: lock, journal each action before it runs, one policy transaction, restart
through the service manager, verify, and self-heal from new denials for a bounded number of rounds.
"""

import os
import shutil
import signal
import tempfile
import time
import typing

from postmulti_selinux.errors import ToolError
from postmulti_selinux.plan.action import Context
from postmulti_selinux.plan.actions import CommitPolicy, CreateChild, RelabelChild, wrong_labels
from postmulti_selinux.plan.build import build_plan
from postmulti_selinux.plan.journal import Journal, Lock
from postmulti_selinux.plan.observe import Observation, require_selinux, selinux_state
from postmulti_selinux.plan.recovery import keep_parent_up
from postmulti_selinux.plan.scope import resolve_scope
from postmulti_selinux.plan.service import restart_postfix
from postmulti_selinux.plan.verify import Baseline, child_trees, label_check, verify_child
from postmulti_selinux.postfix.layout import child_start_problems
from postmulti_selinux.postfix.manage import check_name
from postmulti_selinux.selinux import PolicyTransaction
from postmulti_selinux.selinux.store_libsemanage import show_messages as show_store_messages

MODULE_NAME = "postmulti_selinux"
MAX_ROUNDS = 3
KILL_HOOK = "POSTMULTI_SELINUX_TEST_KILL_AT"  # test hook: SIGKILL right after journalling KIND


class Options(object):
    """What the user asked for (the CLI flags of secure-child)."""

    def __init__(self, listen=None, create=False, group=None, dry_run=False, restart=True,
                 verify=True, recipient="postmaster", config_dir=None, root="/",
                 state=None, port_backend="auto", allow_sensitive=False):
        self.listen = listen
        self.create = create
        self.group = group
        self.dry_run = dry_run
        self.restart = restart
        self.verify = verify
        self.recipient = recipient
        self.config_dir = config_dir
        self.root = root
        self.state = state
        self.port_backend = port_backend
        self.allow_sensitive = allow_sensitive


class Report(object):
    """What a run did, for the human summary and --json."""

    def __init__(self, instance, dry_run):
        self.instance = instance
        self.dry_run = dry_run
        self.plans = []  # type: typing.List[dict]
        self.applied = []  # type: typing.List[dict]
        self.restarts = 0
        self.store_rebuilds = 0
        self.rounds = []  # type: typing.List[dict]
        self.verification = []  # type: typing.List[dict]
        self.notes = []  # type: typing.List[str]
        self.diff = {"before": {}, "after": {}}

    @property
    def changed(self):
        """Whether the run changed the host; for a dry run, whether a real run would."""
        if self.dry_run:
            return any(not a.get("satisfied", False)
                       for plan in self.plans for a in plan["actions"])
        return bool(self.applied or self.restarts)

    @property
    def ok(self):
        return all(c["ok"] for c in self.verification)

    def as_dict(self):
        plan = {"instance": self.instance, "actions": [], "notes": []}
        for item in self.plans:
            plan["actions"].extend(item["actions"])
            plan["notes"].extend(item["notes"])
        return {"instance": self.instance, "dry_run": self.dry_run, "changed": self.changed,
                "ok": self.ok, "plan": plan, "applied": self.applied,
                "restarts": self.restarts, "store_rebuilds": self.store_rebuilds,
                "rounds": self.rounds, "verification": self.verification,
                "notes": self.notes, "diff": self.diff}


def _run_actions(plan, ctx, journal, report):
    # type: (object, Context, Journal, Report) -> int
    """Apply every unsatisfied action of ``plan`` in order; return how many ran."""
    ran = 0
    for action in plan.actions:
        if isinstance(action, CommitPolicy) and not ctx.transaction.pending():
            continue
        if action.satisfied(ctx):
            continue
        _apply_one(action, ctx, journal, report)
        ran += 1
    return ran


def _apply_one(action, ctx, journal, report, reason=None):
    # type: (object, Context, Journal, Report, typing.Optional[str]) -> dict
    """Journal ``action`` (before it changes anything), apply it, record the outcome."""
    entry = journal.begin(action, action.snapshot(ctx))
    if os.environ.get(KILL_HOOK) == action.kind:
        os.kill(os.getpid(), signal.SIGKILL)
    ctx.log("{}: {}".format(action.kind, action.title))
    result = action.apply(ctx)
    journal.done(entry, result)
    report.applied.append({"kind": action.kind, "title": action.title,
                           "reason": reason or action.reason})
    if isinstance(action, CommitPolicy):
        report.store_rebuilds += result.get("rebuilds", 0)
        ctx.transaction = PolicyTransaction(ctx.policy_root)
    return result


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


def secure(name, options, log=None, meter=None):
    # type: (str, Options, typing.Callable, typing.Callable) -> Report
    """The one-shot: plan, apply, restart, verify (and self-heal). Dry run: plan only.

    A real run takes the lock before it looks at the host, so that a plan is never built from
    a look that another run has made stale. Offline (``--root``), nothing is restarted.
    """
    show_store_messages(log is not None)
    log = log or (lambda text: None)
    check_name(name)
    scope = resolve_scope(options.root, options.config_dir, options.state)
    if options.dry_run:
        return _secure(name, options, scope, log, meter)
    with Lock(scope.state_dir):
        return _secure(name, options, scope, log, meter)


def _secure(name, options, scope, log, meter=None):
    # type: (str, Options, typing.Any, typing.Callable, typing.Callable) -> Report
    obs = Observation(name, scope.config_dir, scope.root, options.port_backend)
    report = Report(name, options.dry_run)
    require_selinux(obs.selinux)
    restart = options.restart and not scope.offline
    if scope.offline and options.restart:
        report.notes.append("offline (--root {}): Postfix was not restarted and nothing was "
                            "probed; restart Postfix on the host this root belongs to".format(
                                scope.root))
    plan = build_plan(obs, options.listen, options.create, options.group)
    transaction = PolicyTransaction(obs.policy_root)
    if obs.child is not None:
        log("policy {} ({}); port questions answered by {}; store committed by {}; service "
            "manager {}".format(obs.policy_root.policy_file, obs.selinux.policy_type,
                                obs.port_check().backend_description,
                                transaction.backend_name, obs.service_manager))
    ctx = Context(obs.manager, obs.policy_root, transaction, log, meter)
    report.diff["before"] = _snapshot_state(obs)
    if options.dry_run:
        report.plans.append(plan.as_dict(ctx))
        if any(isinstance(a, CreateChild) for a in plan.actions):
            report.notes.append("dry run: the child does not exist yet, so later steps are "
                                "planned after --create makes it")
        report.diff["after"] = report.diff["before"]
        return report
    journal = Journal(scope.state_dir, name, scope.root)
    report.plans.append(plan.as_dict(ctx))
    ran = _run_actions(plan, ctx, journal, report)
    if any(isinstance(a, CreateChild) for a in plan.actions):
        obs.refresh()
        plan = build_plan(obs, options.listen)
        report.plans.append(plan.as_dict(ctx))
        ran += _run_actions(plan, ctx, journal, report)
    obs.refresh()
    _restart_and_verify(obs, ctx, journal, report, options, ran, log, restart)
    report.diff["after"] = _snapshot_state(obs)
    return report


def _restart_and_verify(obs, ctx, journal, report, options, ran, log, restart):
    """Restart when something changed (or the child is unhealthy), verify, self-heal."""
    state_fn = lambda: selinux_state(options.root)  # noqa: E731
    if not restart:
        report.notes.append("restart skipped (--no-restart): verify by restarting Postfix")
        return
    if not ran:
        checks = _verify(obs, state_fn, time.time(), options, settle=0)
        if all(c.ok for c in checks):
            report.verification = [c._asdict() for c in checks]
            return
        report.notes.append("no configuration change was needed but the child is not healthy: "
                            "restarting")
    apply_action = lambda action, reason: _apply_one(  # noqa: E731
        action, ctx, journal, report, reason)
    problems = child_start_problems(obs.manager.postfix, obs.child)
    if problems:
        keep_parent_up(obs, ctx, apply_action, report, "it cannot start: " + "; ".join(problems),
                       log)
        return
    for round_number in range(1, MAX_ROUNDS + 1):
        try:
            began = restart_postfix(obs.service_manager, obs.child.name, log)
        except ToolError as exc:
            report.restarts += 1
            keep_parent_up(obs, ctx, apply_action, report, str(exc), log)
            return
        report.restarts += 1
        time.sleep(1.0)
        checks = _verify(obs, state_fn, began, options)
        report.verification = [c._asdict() for c in checks]
        failed = [c for c in checks if not c.ok]
        round_info = {"round": round_number, "failed": [c.name for c in failed]}
        report.rounds.append(round_info)
        if not failed or not options.verify:
            return
        fixed = _self_heal(obs, ctx, journal, report, options, began, round_info, log,
                           relabel=any(c.name == "labels" for c in failed))
        if not fixed:
            return


def _verify(obs, state_fn, since, options, settle=20.0):
    # type: (Observation, typing.Callable, float, Options, float) -> list
    """verify_child, and the child's labels by the rule ``check`` uses (one rule, both places)."""
    checks = verify_child(obs.child, state_fn, since, options.recipient, settle=settle)
    return checks + [label_check(obs.policy_root, [(p, c) for _, p, c in obs.dir_pairs()])]


def _self_heal(obs, ctx, journal, report, options, since, round_info, log, relabel=False):
    # type: (...) -> bool
    """Explain the denials since ``since``; fix by labels first, then (guarded) a module.
    ``relabel``: the label check failed (files Postfix made at start), relabel whatever the
    denials say."""
    from postmulti_selinux.avc import analysis, build, paths, policy
    audit = "/var/log/audit/audit.log"
    if not os.path.exists(audit):
        return False
    query = policy.open_policy(obs.policy_root.policy_file, "auto")
    expected = paths.SelabelExpected(obs.policy_root.file_contexts)
    instances = [paths.InstanceDirs(i.name or "postfix", i.config_directory, i.queue_directory,
                                    i.data_directory) for i in obs.host.instances]
    mapper = paths.PathMapper(instances, parent=instances[0])
    result = analysis.analyse(query, files=[audit], expected_context=expected, mapper=mapper,
                              since=since, instance=obs.child.name,
                              allow_sensitive=options.allow_sensitive)
    baseline = Baseline(since, child_trees(obs.child))
    findings = [f for f in result.findings if f.kind != "out_of_scope" and
                not baseline.covers(f.source, f.target, f.tclass, f.perms)]
    round_info["findings"] = [f.line() for f in findings]
    if not findings and not relabel:
        return False
    acted = False
    if relabel or any(f.kind == "mislabel" for f in findings):
        pairs = [(p, c) for _, p, c in obs.dir_pairs()]
        action = RelabelChild([c for _, c in pairs], 0)
        action.pairs = pairs
        result = _apply_one(action, ctx, journal, report,
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
            commit = CommitPolicy(1)
            commit.title = "install policy module {} {}".format(module.name, module.version)
            _apply_one(commit, ctx, journal, report, "true policy gaps: " + "; ".join(
                f.line() for f in findings if f.rule or f.role_rule))
            acted = True
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return acted
