# Test-only callback: records every task result as JSON for the tests' assertions, beside the
# default output a person reads (the tests grep both for secrets).
from __future__ import annotations

import json
import os

from ansible.module_utils.common.json import AnsibleJSONEncoder
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = '''
name: record_results
type: aggregate
short_description: write task results to $RECORD_RESULTS_FILE
description: Test-only. Needs enabling.
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'record_results'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.records = []

    def _record(self, result, status):
        self.records.append({'task': result._task.get_name(), 'host': result._host.get_name(),
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
        summary = dict((host, stats.summarize(host)) for host in sorted(stats.processed))
        with open(os.environ['RECORD_RESULTS_FILE'], 'w') as handle:
            json.dump({'records': self.records, 'stats': summary}, handle, cls=AnsibleJSONEncoder)
