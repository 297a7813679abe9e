# Benchmark-only callback: when each play, task and host result happened, as JSON lines in $TIMELINE_FILE.
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = '''
name: timeline
type: aggregate
short_description: write a timeline of plays, tasks and results to $TIMELINE_FILE
description: Benchmark-only (bench/profile.py). Needs enabling.
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'timeline'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.handle = open(os.environ['TIMELINE_FILE'], 'a')

    def _event(self, kind, **fields):
        fields.update(kind=kind, t=time.time())
        self.handle.write(json.dumps(fields) + '\n')
        self.handle.flush()

    def v2_playbook_on_play_start(self, play):
        self._event('play')

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._event('task', task=task.get_name())

    def v2_playbook_on_handler_task_start(self, task):
        self._event('task', task=task.get_name())

    def _result(self, result, status):
        timings = result._result.get('verification', {}).get('timings_ms')
        self._event('result', task=result._task.get_name(), host=result._host.get_name(), status=status,
                    smtp_ms=timings)

    def v2_runner_on_ok(self, result):
        self._result(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result(result, 'failed')

    def v2_runner_on_skipped(self, result):
        self._result(result, 'skipped')

    def v2_playbook_on_include(self, included_file):
        self._event('include')

    def v2_playbook_on_stats(self, stats):
        self._event('end')
