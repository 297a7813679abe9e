#!/usr/bin/env bash
# Prepare a fresh Debian machine for the demo and the tests: system packages, then .venv.
# Idempotent and quiet when everything is there; fails loudly when a piece cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(postfix msmtp openssh-server openssh-client sasl2-bin libsasl2-modules shellcheck dovecot-core debootstrap)
# The applications whose own sends prove their profiles (tests/integration/test_apps_*.py).
APT_PACKAGES+=(prometheus-alertmanager monit s-nail git-email mailman3 redmine redmine-sqlite
               mediawiki php-sqlite3 php-mail roundcube-core roundcube-sqlite3)
# The interpreters that read back the code-as-config files (tests/unit/test_profiles_code.py: gitlab.rb, Nextcloud).
APT_PACKAGES+=(php-cli ruby)

# The PyPI applications' venvs (tests/apps/<app>.txt) build in the background while apt and .venv install.
mkdir -p "${HOME}/.cache/email_ops_smtp"
app_venv_log="${HOME}/.cache/email_ops_smtp/appvenv.log"
python3 tests/testbed/appvenv.py >"$app_venv_log" 2>&1 &
app_venv_pid=$!
need_cmd() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  # Postfix's installer asks what kind of mail system this is; the tests run their own instance.
  echo "postfix postfix/main_mailer_type select No configuration" | $sudo_cmd debconf-set-selections
  $sudo_cmd apt-get update -qq
  # Installed, not started: the tests run each app's daemon themselves (a container has no init anyway).
  printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee /usr/sbin/policy-rc.d >/dev/null
  $sudo_cmd chmod 755 /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for cmd in postfix postconf msmtp sshd saslpasswd2 shellcheck dovecot debootstrap; do
  need_cmd "$cmd" || { echo "bootstrap: '$cmd' is still missing after apt-get install" >&2; exit 1; }
done

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha
want=$(cat requirements.txt requirements-dev.txt constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing Python requirements into .venv"
  # constraints.txt pins every package (and dependency) to the versions the suite was last green with.
  .venv/bin/pip install -q -r requirements-dev.txt -c constraints.txt
  echo "$want" > "$stamp"
fi
.venv/bin/python -c "import ansible, jsonschema, aiosmtpd, trustme, yaml" \
  || { echo "bootstrap: .venv lacks a required Python package" >&2; exit 1; }
wait "$app_venv_pid" || { cat "$app_venv_log" >&2; echo "bootstrap: an application venv failed to build" >&2; exit 1; }
