# Stand-in for the get-pip.py that ansible-test downloads from a host this machine cannot reach.
# ansible-test runs it in a new, empty venv with pip install arguments; Python's bundled ensurepip
# gives pip, which then installs what was asked from the package index the machine is configured for.
import ensurepip
import os
import subprocess
import sys

env = dict(os.environ)  # ensurepip points PIP_CONFIG_FILE at /dev/null; pip's own config is wanted afterwards
ensurepip.bootstrap(upgrade=True)
args = [arg for arg in sys.argv[1:] if arg not in ('--no-setuptools', '--no-wheel')]
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install'] + args, env=env))
