#!/usr/bin/env bash
# Rotate one environment's SMTP password / app password / token in its vault:
#   ./rotate.sh production      (the new secret is read from stdin, never from the command line)
# Then plan, commit, merge: see "Rotating the SMTP credential" in README.md.
set -euo pipefail
cd "$(dirname "$0")"

env=${1:?usage: $0 staging|production  (new secret on stdin)}
vault=inventories/$env/group_vars/all/vault.yml
[ -f "$vault" ] || { echo "rotate.sh: no $vault" >&2; exit 2; }
[ -n "${ANSIBLE_VAULT_PASSWORD_FILE:-}" ] || { echo "rotate.sh: set ANSIBLE_VAULT_PASSWORD_FILE" >&2; exit 2; }

if [ -t 0 ]; then printf 'New SMTP secret for %s: ' "$env" >&2; fi
IFS= read -rs secret || true  # no echo on a terminal; a pipe works too
if [ -t 0 ]; then echo >&2; fi
[ -n "$secret" ] || { echo "rotate.sh: empty secret, nothing changed" >&2; exit 2; }

# vault.yml holds this one variable. JSON quoting is valid YAML for any character in the secret;
# the secret travels through stdin only (argv and the environment are visible in ps).
printf '%s' "$secret" \
  | python3 -c 'import json, sys; print("vault_smtp_password: " + json.dumps(sys.stdin.read()))' \
  | ansible-vault encrypt --output "$vault.new" -
mv "$vault.new" "$vault"
echo "rotate.sh: re-encrypted $vault. Next: ansible-playbook site.yml -i inventories/$env --check --diff," >&2
echo "then commit, open a merge request, merge. Revoke the old secret once every host has the new one." >&2
