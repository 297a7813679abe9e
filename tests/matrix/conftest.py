"""Say at the end of the run which matrix legs could not run here, and how long each leg took."""
from tests.matrix import test_matrix


def pytest_terminal_summary(terminalreporter):
    if test_matrix.UNRUN:
        terminalreporter.section('version matrix: legs NOT run (interpreter missing)')
        for leg, versions in sorted(test_matrix.UNRUN.items()):
            terminalreporter.write_line('%s: Python %s not found (PATH or ~/.pyenv/versions)' % (leg, ', '.join(versions)))
    if test_matrix.KNOWN:
        terminalreporter.section('version matrix: hosts that crashed with a known bug (see KNOWN_PY36_CRASHES)')
        for leg, host in sorted(test_matrix.KNOWN.items()):
            terminalreporter.write_line('%s: host %s' % (leg, host))
    if test_matrix.TIMINGS:
        terminalreporter.section('version matrix: seconds per leg and step')
        for leg, steps in sorted(test_matrix.TIMINGS.items()):
            terminalreporter.write_line('%s: %s' % (leg, ', '.join('%s %.0f' % item for item in sorted(steps.items()))))
