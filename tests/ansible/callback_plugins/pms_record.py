# -*- coding: utf-8 -*-
"""Test-only callback: writes every task result and the final stats as JSON to $PMS_ANSIBLE_RECORD."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = '''
    name: pms_record
    type: aggregate
    short_description: record task results as JSON for the collection's tests
    description: Writes the tasks' results and the stats as JSON to the file named by PMS_ANSIBLE_RECORD.
    requirements: [PMS_ANSIBLE_RECORD in the environment]
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'pms_record'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.tasks = []

    def _record(self, result, status):
        self.tasks.append({'task': result._task.name, 'host': result._host.get_name(),
                           'status': status, 'result': result._result})

    def v2_runner_on_ok(self, result):
        self._record(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, 'failed')

    def v2_runner_on_skipped(self, result):
        self._record(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._record(result, 'unreachable')

    def v2_playbook_on_stats(self, stats):
        hosts = sorted(stats.processed.keys())
        summary = dict((host, stats.summarize(host)) for host in hosts)
        with open(os.environ['PMS_ANSIBLE_RECORD'], 'w') as handle:
            json.dump({'tasks': self.tasks, 'stats': summary}, handle, default=str)
