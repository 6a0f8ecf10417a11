#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: postmulti-selinux contributors
# GNU General Public License v2.0+ (see https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: postmulti_selinux
short_description: Run a Postfix multi-instance child with SELinux enforcing
version_added: "0.1.0"
description:
  - Secures one Postfix C(postmulti) child instance on an SELinux host by running the installed
    C(postmulti-selinux) tool (C(postmulti-selinux secure NAME --json)). The child's config, spool
    and data paths get the parent's labels, its listener port becomes bindable, the data
    directory gets Postfix's owner, Postfix is restarted through the service manager and the
    child is verified (master domain, SMTP greeting on every listener, still enforcing, no new
    denials).
  - All decisions are made by the tool; this module only maps its JSON report to Ansible's
    C(changed), C(diff) and failure conventions.
  - With I(state=absent) the tool's C(undo) puts back the prior state recorded in its journal.
  - With I(instances) every child of the list is handled in one tool run per state, one
    C(secure --instances-json -) for those present (one policy transaction, one relabel, one
    restart) and one C(undo NAME...) for those absent. Children secured in one run are undone
    together, so to drop one of them later undo them all and secure the others again.
  - The tool never changes the SELinux enforcement mode and refuses to run where SELinux is
    disabled.
author:
  - postmulti-selinux contributors (!UNKNOWN)
requirements:
  - The C(postmulti-selinux) tool on the managed host (the C(postmulti.selinux.secure_children) role installs it).
  - SELinux in enforcing or permissive mode, Postfix with C(postmulti).
options:
  name:
    description:
      - The Postfix instance name as C(postmulti) knows it, for example C(postfix-sub).
      - Exactly one of I(name) and I(instances) is required.
    type: str
  instances:
    description:
      - Several children at once, each with the options below; secured in one tool run.
      - Mutually exclusive with I(name), I(listen), I(port), I(group) and I(create).
    type: list
    elements: dict
    suboptions:
      name:
        description: The instance name, as for the top-level I(name).
        type: str
        required: true
      listen:
        description: The child's SMTP listener as C(ADDR:PORT). Mutually exclusive with I(port).
        type: str
      port:
        description: The child's SMTP listener port on all addresses.
        type: int
      group:
        description: The C(postmulti) instance group of the child (used with I(create)).
        type: str
      create:
        description: Create the instance with C(postmulti) when it does not exist yet.
        type: bool
        default: false
      state:
        description: The state of this child; the top-level I(state) when not given.
        type: str
        choices: [present, absent]
  listen:
    description:
      - The child's SMTP listener as C(ADDR:PORT), for example C(127.0.0.1:10025).
      - Mutually exclusive with I(port).
    type: str
  port:
    description:
      - The child's SMTP listener port on all addresses. Mutually exclusive with I(listen).
    type: int
  group:
    description:
      - The C(postmulti) instance group of the child (used with I(create)).
    type: str
  create:
    description:
      - Create the instance with C(postmulti) when it does not exist yet.
    type: bool
    default: false
  state:
    description:
      - I(present) secures the instance; I(absent) undoes what the tool changed for it.
      - With I(absent) the options I(listen), I(port), I(group) and I(create) are ignored, so
        one list of instances can be flipped from one state to the other.
    type: str
    choices: [present, absent]
    default: present
  executable:
    description:
      - Path of the C(postmulti-selinux) command. By default it is looked up on C(PATH)
        and in C(/usr/local/sbin), C(/usr/local/bin) and C(/opt/postmulti-selinux/bin).
    type: path
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: Runs the tool with C(--dry-run); it plans and changes nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
    details: Before/after of labels, port types, policy module and config lines, as the tool reports them.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
notes:
  - Check mode with I(state=absent) needs the tool's C(undo --dry-run).
  - Runs are serialised on the host by the tool's own lock.
'''

EXAMPLES = r'''
- name: Secure the seed's child on 127.0.0.1:10025
  postmulti.selinux.postmulti_selinux:
    name: postfix-sub
    listen: 127.0.0.1:10025

- name: Create and secure an outbound child in group mta
  postmulti.selinux.postmulti_selinux:
    name: postfix-out
    listen: 127.0.0.1:2525
    group: mta
    create: true

- name: Undo everything the tool changed for postfix-sub
  postmulti.selinux.postmulti_selinux:
    name: postfix-sub
    state: absent

- name: Secure three children in one run (one rebuild, one restart)
  postmulti.selinux.postmulti_selinux:
    instances:
      - {name: postfix-a, listen: "127.0.0.1:10025"}
      - {name: postfix-srv, listen: "127.0.0.1:10026"}
      - {name: postfix-out, listen: "127.0.0.1:2525"}
'''

RETURN = r'''
instance:
  description: The instance name the tool worked on.
  returned: with I(name)
  type: str
  sample: postfix-sub
instances:
  description: With I(instances), each child's outcome in the list's order.
  returned: with I(instances)
  type: list
  elements: dict
  sample:
    - {instance: postfix-a, state: present, changed: true, ok: true, notes: []}
    - {instance: postfix-old, state: absent, changed: true, ok: true, notes: []}
plan:
  description: The tool's plan, each action with its reason and whether it was already satisfied.
  returned: when I(state=present)
  type: dict
  sample:
    instance: postfix-sub
    actions:
      - kind: fcontext-equivalence
        title: label /var/lib/postfix-sub like /var/lib/postfix
        reason: the child's data directory is var_lib_t, the master cannot open master.lock
        satisfied: false
    notes: []
applied:
  description: The actions the tool applied (empty in check mode and on a secured host).
  returned: when I(state=present)
  type: list
  elements: dict
  sample: [{kind: restorecon, title: relabel /var/spool/postfix-sub}]
verification:
  description: The tool's checks after the restart (master domain, SMTP on each listener, enforcing, denials).
  returned: when I(state=present)
  type: list
  elements: dict
  sample:
    - name: smtp 127.0.0.1:10025
      ok: true
      detail: "220 greeting, EHLO 250"
undone:
  description: What the tool put back (or would put back, in check mode).
  returned: when I(state=absent)
  type: list
  elements: dict
  sample: [{kind: fcontext-equivalence, title: remove /var/lib/postfix-sub = /var/lib/postfix}]
notes:
  description: The tool's notes about the host (policy type, service manager, ...).
  returned: when I(state=present)
  type: list
  elements: str
  sample: [Debian systemd generator makes postfix@postfix-sub.service]
report:
  description: The tool's whole JSON report, unchanged (with I(instances), the secure run's).
  returned: always
  type: dict
undo_report:
  description: With I(instances), the undo run's JSON report, unchanged.
  returned: with I(instances) when some are absent
  type: dict
cmd:
  description: The command the module ran (with I(instances), the last one).
  returned: always
  type: list
  elements: str
  sample: [/usr/local/bin/postmulti-selinux, secure, postfix-sub, --listen, 127.0.0.1:10025, --json]
'''

import json
import os

from ansible.module_utils.basic import AnsibleModule

TOOL = 'postmulti-selinux'
EXTRA_PATHS = ['/usr/local/sbin', '/usr/local/bin', '/opt/postmulti-selinux/bin']


def executable_of(module):
    """The tool's path: the executable option, else PATH and the usual install places."""
    return module.params['executable'] or module.get_bin_path(TOOL, required=True, opt_dirs=EXTRA_PATHS)


def tool_command(module):
    """The command line for the requested state; check mode adds --dry-run."""
    params = module.params
    executable = executable_of(module)
    if params['state'] == 'absent':
        cmd = [executable, 'undo', params['name']]
    else:
        cmd = [executable, 'secure', params['name']]
        if params['listen']:
            cmd += ['--listen', params['listen']]
        if params['port'] is not None:
            cmd += ['--port', str(params['port'])]
        if params['group']:
            cmd += ['--group', params['group']]
        if params['create']:
            cmd.append('--create')
    if module.check_mode:
        cmd.append('--dry-run')
    cmd.append('--json')
    return cmd


def split_instances(module):
    """(present, absent): the instances list's children by their state (the top-level one
    when an item gives none); present ones as --instances-json items."""
    present, absent = [], []
    for item in module.params['instances']:
        state = item.get('state') or module.params['state']
        if state == 'absent':
            absent.append(item['name'])
            continue
        spec = dict((key, item[key]) for key in ('name', 'listen', 'port', 'group')
                    if item.get(key) is not None)
        if item.get('create'):
            spec['create'] = True
        present.append(spec)
    names = [spec['name'] for spec in present] + absent
    twice = sorted(set(name for name in names if names.count(name) > 1))
    if twice:
        module.fail_json(msg='instances names %s more than once' % ', '.join(twice))
    return present, absent


def parse_report(stdout):
    """The one JSON object the tool prints (possibly indented), or None when stdout holds none."""
    text = (stdout or '').strip()
    starts = [0] + [index + 1 for index, char in enumerate(text) if char == '\n' and text[index + 1:index + 2] == '{']
    for start in starts:
        try:
            report = json.loads(text[start:])
        except ValueError:
            continue
        return report if isinstance(report, dict) else None
    return None


def would_change(report, state, check_mode):
    """The tool's own verdict; in check mode also any plan action it marks unsatisfied (a dry
    run applies nothing, so its report's own ``changed`` may only say what was done)."""
    if state == 'absent':
        return bool(report.get('changed', report.get('undone')))
    pending = bool(pending_actions(report))
    if 'changed' not in report:
        return pending
    return bool(report['changed']) or (check_mode and pending)


def pending_actions(report):
    """The plan's actions the tool marks as not yet satisfied."""
    actions = (report.get('plan') or {}).get('actions') or []
    return [action for action in actions if action.get('satisfied') is False]


def diff_of(report, name, check_mode):
    """Ansible's diff from the tool's before/after (dicts are rendered by the callback). A dry
    run whose report cannot picture the after state shows the pending plan instead."""
    diff = report.get('diff')
    if not isinstance(diff, dict) or 'before' not in diff or 'after' not in diff:
        diff = None
    pending = pending_actions(report)
    if check_mode and pending and (diff is None or diff['before'] == diff['after']):
        lines = ['%s would change:' % name]
        for action in pending:
            lines.append('+ %s' % action.get('title'))
            if action.get('reason'):
                lines.append('    why: %s' % action['reason'])
        return {'prepared': '\n'.join(lines) + '\n'}
    if diff is None:
        return None
    return {
        'before': diff['before'],
        'after': diff['after'],
        'before_header': '%s (before)' % name,
        'after_header': '%s (after)' % name,
    }


def failure_message(report, rc, stderr):
    """The tool's one-line error, or the checks that failed when it exits 1 with its report."""
    error = (report or {}).get('error')
    if error:
        return error
    if report is not None and report.get('ok') is False:
        parts = ['%s not secured: %s' % (child.get('instance'), child.get('error'))
                 for child in report.get('children') or [] if child.get('error')]
        failed = ['%s%s' % ('%s: ' % item['instance'] if item.get('instance') else '', item.get('name'))
                  for item in report.get('verification') or [] if not item.get('ok')]
        if failed:
            parts.append('verification failed: %s' % ', '.join(str(name) for name in failed))
        if parts:
            return '; '.join(parts)
    lines = [line for line in (stderr or '').splitlines() if line.strip()]
    return lines[-1] if lines else 'postmulti-selinux exited %d without a JSON report' % rc


def run_tool(module, cmd, data=None):
    """Run the tool; (rc, stdout, stderr, report)."""
    rc, stdout, stderr = module.run_command(cmd, data=data, environ_update={'LC_ALL': 'C.UTF-8'})
    return rc, stdout, stderr, parse_report(stdout)


def secure_instances(module):
    """The instances option: one secure run for the present children, one undo for the absent."""
    present, absent = split_instances(module)
    if not present and not absent:
        module.exit_json(changed=False, instances=[], cmd=[], report=None)
    executable = executable_of(module)
    dry_run = ['--dry-run'] if module.check_mode else []
    result = dict(changed=False, instances=[], cmd=[], report=None)
    outcomes = {}
    if absent:
        cmd = [executable, 'undo'] + absent + dry_run + ['--json']
        rc, stdout, stderr, report = run_tool(module, cmd)
        result.update(cmd=cmd, rc=rc, undo_report=report)
        if report is None or rc != 0 or report.get('ok') is False:
            result.update(stderr=stderr, stdout=stdout)
            module.fail_json(msg=failure_message(report, rc, stderr), **result)
        undone = report.get('undone') or []
        for name in absent:
            mine = [item for item in undone if item.get('instance', name) == name]
            outcomes[name] = dict(instance=name, state='absent', ok=True, undone=mine,
                                  changed=any(item.get('reversed', True) for item in mine),
                                  notes=report.get('notes') or [])
        result['changed'] = bool(report.get('changed'))
    if present:
        cmd = [executable, 'secure', '--instances-json', '-'] + dry_run + ['--json']
        rc, stdout, stderr, report = run_tool(module, cmd, data=json.dumps(present))
        result.update(cmd=cmd, rc=rc, report=report)
        if report is not None:
            pending = pending_actions(report) if module.check_mode else []
            applied = report.get('applied') or []
            children = dict((child.get('instance'), child) for child in report.get('children') or [])
            for spec in present:
                name = spec['name']
                child = children.get(name, {})
                outcomes[name] = dict(
                    instance=name, state='present', ok=child.get('ok', report.get('ok')),
                    changed=any(a.get('instance') == name for a in applied + pending),
                    verification=child.get('verification') or [], notes=child.get('notes') or [])
                if child.get('error'):
                    outcomes[name]['error'] = child['error']
            result['changed'] = result['changed'] or would_change(report, 'present', module.check_mode)
            result.update(plan=report.get('plan') or {}, applied=applied,
                          verification=report.get('verification') or [],
                          notes=report.get('notes') or [])
        result['instances'] = [outcomes[item['name']] for item in module.params['instances']
                               if item['name'] in outcomes]
        if report is None or rc != 0 or report.get('ok') is False:
            result.update(stderr=stderr, stdout=stdout)
            module.fail_json(msg=failure_message(report, rc, stderr), **result)
        if module._diff:
            diff = diff_of(report, 'instances', module.check_mode)
            if diff is not None:
                result['diff'] = diff
    result['instances'] = [outcomes[item['name']] for item in module.params['instances']]
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str'),
            instances=dict(type='list', elements='dict', options=dict(
                name=dict(type='str', required=True),
                listen=dict(type='str'),
                port=dict(type='int'),
                group=dict(type='str'),
                create=dict(type='bool', default=False),
                state=dict(type='str', choices=['present', 'absent']),
            ), mutually_exclusive=[['listen', 'port']]),
            listen=dict(type='str'),
            port=dict(type='int'),
            group=dict(type='str'),
            create=dict(type='bool', default=False),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            executable=dict(type='path'),
        ),
        mutually_exclusive=[['listen', 'port'], ['name', 'instances'], ['instances', 'listen'],
                            ['instances', 'port'], ['instances', 'group'], ['instances', 'create']],
        required_one_of=[['name', 'instances']],
        supports_check_mode=True,
    )
    params = module.params
    ports = [(params['name'], params['port'])] + [
        (item['name'], item['port']) for item in params['instances'] or []]
    for name, port in ports:
        if port is not None and not 0 < port < 65536:
            module.fail_json(msg='port must be between 1 and 65535, got %d%s' % (
                port, ' (%s)' % name if params['instances'] else ''))
    if params['executable'] and not os.access(params['executable'], os.X_OK):
        module.fail_json(msg='executable %s is not an executable file' % params['executable'])
    if params['instances'] is not None:
        secure_instances(module)
        return

    cmd = tool_command(module)
    rc, stdout, stderr, report = run_tool(module, cmd)
    result = dict(changed=False, cmd=cmd, rc=rc, instance=params['name'], report=report)

    if report is None or rc != 0 or report.get('ok') is False:
        result.update(stderr=stderr, stdout=stdout)
        if report is not None:
            result.update(changed=bool(report.get('changed')))
        module.fail_json(msg=failure_message(report, rc, stderr), **result)

    result['changed'] = would_change(report, params['state'], module.check_mode)
    result['instance'] = report.get('instance', params['name'])
    if params['state'] == 'absent':
        result['undone'] = report.get('undone') or []
    else:
        plan = report.get('plan') or {}
        result.update(plan=plan, applied=report.get('applied') or [],
                      verification=report.get('verification') or [],
                      notes=plan.get('notes') or report.get('notes') or [])
    if module._diff:
        diff = diff_of(report, params['name'], module.check_mode)
        if diff is not None:
            result['diff'] = diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
