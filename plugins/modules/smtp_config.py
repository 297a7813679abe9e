#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: smtp_config
short_description: Write an application's SMTP settings into its own config file
version_added: 0.1.0
description:
  - Writes the settings document (O(settings)) into the application's configuration file at O(path),
    and nothing else of that file. Other keys, sections and, for INI, env and msmtp files, comments and order survive.
  - The document is validated against C(schemas/smtp_settings.schema.json) on the controller first; every
    problem is reported at once with its path and nothing reaches the host.
  - With O(verify), the new settings are proven from the host with a real SMTP conversation before anything
    is written; settings that fail are not written and the task fails.
  - Idempotent. Check mode touches nothing and predicts C(changed). Diff mode masks every secret as V(********),
    shown as V(******** (changed\)) where the secret changes.
  - Writes are atomic (temporary file in the same folder, then rename).
author:
  - email_ops maintainers (@email-ops)
requirements:
  - jsonschema >= 4.18 on the controller (C(pip install jsonschema)); it validates O(settings) before anything reaches the host.
  - Python 3.6 or later on the managed host, standard library only (PyYAML for O(format=yaml)).
extends_documentation_fragment:
  - email_ops.smtp.settings
  - ansible.builtin.files
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - ansible.builtin.action_common_attributes.FILES
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  action:
    support: full
    details: The action plugin validates O(settings) and reads the app profile on the controller.
  action_group:
    support: full
    membership:
      - email_ops.smtp.smtp
  async:
    support: none
    details: The task fails at once, saying that the action does not support async; nothing is written.
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Writes nothing. With O(verify=send) the settings are only probed (nothing is delivered).
  diff_mode:
    support: full
    details: Secrets are masked in the diff.
  platform:
    platforms: posix
  safe_file_operations:
    support: full
  vault:
    support: none
options:
  path:
    description:
      - The configuration file of an app with one file (V(generic), V(msmtp), V(ssmtp)), an absolute path. Created when
        missing; its folder must exist.
      - Required for V(generic); other apps default to the path their profile names (for example C(/etc/msmtprc)).
      - For an app with several files use O(paths).
      - Each file must be a regular file of at most 16 MiB; a directory, FIFO, device or socket is an error, and so is a
        symbolic link unless O(follow=true).
    type: path
  paths:
    description:
      - "The files of an app with several files, by the file ids of its profile, for example
        C({main: /etc/postfix/main.cf, sasl_passwd: /etc/postfix/sasl_passwd}). Files not named keep the profile's default path."
    type: dict
  follow:
    description:
      - What to do when a file to write is a symbolic link, as in M(ansible.builtin.copy) - whether links in the destination
        are followed.
      - V(false) refuses a link with an error, reading and writing nothing (the link could point anywhere, for example
        at a file only root may read).
      - V(true) resolves the link once and reads, backs up and writes the file it points to; the link stays.
    type: bool
    default: false
  app:
    description:
      - The application profile (a file C(profiles/<app>.yml) in this collection) saying which files, formats and keys,
        and how settings values map to the app's vocabulary.
      - A C(profiles/<app>.yml) in the C(profiles/) folder beside the playbook or role comes first, so an app of your own
        (or your version of one of ours) is named like the collection's.
      - V(generic) writes the settings keys unchanged as JSON, YAML, INI or env; V(msmtp) writes an msmtprc account;
        V(msmtp-mta) adds the aliases file; V(postfix), V(nullmailer), V(dma), V(exim4), V(opensmtpd) and V(ssmtp)
        configure the system mail relay.
    type: str
    default: generic
  profile:
    description:
      - A profile file of your own (same schema as the collection's, C(schemas/app_profile.schema.json)) instead of O(app).
        Looked up in the C(profiles/) folder beside the playbook or role first, as M(ansible.builtin.template) finds templates,
        then as a path. The app is then called after the file's name unless O(app) is set.
    type: str
  plan:
    description:
      - Set by the action plugin, never by you. The app profile rendered on the controller for these settings,
        each file with its path, format, key, entries and commands.
    type: dict
  format:
    description:
      - File format of the app's main file. For V(generic), defaults from the suffix of O(path) (C(.json), C(.yml)/C(.yaml),
        C(.ini)/C(.cfg)/C(.conf), C(.env)). App profiles other than V(generic) fix their formats.
    type: str
    choices: [json, yaml, ini, env, msmtp, assign, equals, map, aliases, colon, shellvars, whole]
  key:
    description:
      - Where the block lives. A dotted path for json and yaml (default C(smtp)), a section for ini (default C(smtp)),
        a variable prefix for env (default C(SMTP_)), the account name for msmtp (default C(default)).
    type: str
  state:
    description:
      - V(present) writes the block; V(absent) removes only the block and leaves the rest of the file.
    type: str
    default: present
    choices: [present, absent]
  update_password:
    description:
      - V(always) writes the password from O(settings.password).
      - V(on_create) writes it only when the block is created; an existing block keeps its password, but only while
        the destination stays the same. When O(settings.host), O(settings.port), O(settings.security) or
        O(settings.username) changed, the task fails instead (the old password would go to a new destination).
    type: str
    default: always
    choices: [always, on_create]
  backup:
    description:
      - Keep a copy of the previous file next to it when the file changes, named C(<file>.<random>.<date>@<time>~).
      - The copy is created exclusively (never through a link) with the file's owner and group and a mode no wider
        than the previous file's nor O(mode), since it holds the previous secret.
    type: bool
    default: false
  validate:
    description:
      - A command run on the new file before it replaces O(path); it must contain C(%s), the temporary file's path.
      - A non-zero exit fails the task and leaves O(path) as it was.
      - It applies to the app's main file (the first of its profile), replacing the profile's own validate command.
    type: str
  verify:
    description:
      - Prove the new settings from the host before writing them, with the same SMTP client as M(email_ops.smtp.smtp_test).
      - V(probe) goes as far as RCPT TO (connect, TLS, AUTH, sender and recipient accepted), then RSET and QUIT; nothing is delivered.
      - V(send) delivers a test message to O(settings.test_email). In check mode V(send) becomes V(probe).
    type: str
    default: none
    choices: [none, probe, send]
  verify_when:
    description:
      - V(changed) verifies only when the block changes; V(always) verifies on every run.
    type: str
    default: changed
    choices: [changed, always]
  verify_deliveries:
    description:
      - With O(verify=send), V(every_host) delivers a test message from every host that verifies.
      - V(once) delivers one per distinct settings document (O(settings.test_email) aside) and C(ansible-playbook) run,
        from the first host that verifies it; every other host with that document probes (as O(verify=probe)), which
        still proves its own network path, TLS, login, sender and recipient. A host that took a document's turn but
        did not deliver (its file unchanged with O(verify_when=changed), check mode, a failure) gives it up, so that a
        later host delivers. The hosts agree through files in Ansible's temporary directory on the controller.
      - Providers throttle test messages (Exchange Online takes 30 a minute per mailbox), so the
        P(email_ops.smtp.configure#role) role uses V(once).
    type: str
    default: every_host
    choices: [every_host, once]
  mode:
    description:
      - Permissions of the files. By default each file gets the mode its profile names, V('0600') unless the app
        needs others to read it (for example Postfix's C(main.cf)).
      - A quoted octal string (V('0640')) or a symbolic mode (V('u=rw,g=r,o=')), as in M(ansible.builtin.file).
        A YAML integer (V(644), or V(0644), which YAML reads as 420) is refused with the same hint ansible-core gives
        - quote octal numbers so Ansible receives a string and can do its own conversion from string into number.
      - Set here, it applies to every file of the app, as do O(owner) and O(group). O(owner) and O(group) must exist
        on the host; otherwise the task fails before anything is written.
    type: raw
notes:
  - The password, app password or token never appears in results, diffs, warnings, errors or C(-vvvv) output;
    only RV(secret_changed) says whether it changed. Keep it in Ansible Vault.
  - The written file holds the secret in clear text, as the application needs it; hence the default O(mode=0600).
  - The yaml format needs PyYAML on the managed host; every other format needs only Python's standard library.
  - Supported with ansible-core 2.16 to 2.21, and managed hosts with Python 3.6 to 3.13.
seealso:
  - module: email_ops.smtp.smtp_test
    description: The Test button alone, stage by stage, without writing anything.
  - name: The email_ops.smtp.configure role
    description: Proves, writes and applies the settings per host, with rollback (C(ansible-doc -t role email_ops.smtp.configure)).
    link: https://github.com/email-ops/smtp/blob/main/roles/configure/README.md
  - name: Settings schema
    description: The JSON Schema every O(settings) document is checked against.
    link: https://github.com/email-ops/smtp/blob/main/schemas/smtp_settings.schema.json
'''

EXAMPLES = r'''
- name: Write the application's email settings, proven by a real test send first
  email_ops.smtp.smtp_config:
    path: /etc/myapp/config.json
    key: notifications.smtp
    settings:
      host: smtp.office365.com
      port: 587
      security: starttls
      username: alerts@example.com
      password: "{{ vault_smtp_password }}"
      from_email: alerts@example.com
      from_name: MyApp alerts
      test_email: ops@example.com
      error_recipients:
        - email: ops@example.com
          name: Operations
    verify: send
    backup: true

- name: The msmtp account cron and git send-email use
  email_ops.smtp.smtp_config:
    app: msmtp
    path: /etc/msmtprc
    mode: '0640'
    group: msmtp
    settings: "{{ smtp_settings }}"

- name: An env file for a container, checked by the app before it replaces the old one
  email_ops.smtp.smtp_config:
    path: /srv/app/.env
    key: MAIL_
    settings: "{{ smtp_settings }}"
    validate: /srv/app/bin/check-env %s

- name: Remove the block, keep the rest of the file
  email_ops.smtp.smtp_config:
    path: /etc/myapp/app.ini
    state: absent
    settings: "{{ smtp_settings }}"
'''

RETURN = r'''
app:
  description: The app whose profile was written.
  returned: always
  type: str
  sample: postfix
files:
  description: Per file of the app (by its profile id) what happened, with the same keys as the top level.
  returned: always
  type: dict
  sample: {main: {path: /etc/postfix/main.cf, changed: true, created: false, format: assign, secret_changed: false}}
  contains:
    after_change:
      description:
        - The profile's command this run ran after the file changed (for example C(postmap)). A rollback that copies
          RV(backup_file) back runs it again, as the configure role does.
      returned: when the file changed and its profile has one
      type: str
      sample: postmap -c /etc/postfix hash:/etc/postfix/sasl_passwd
service:
  description:
    - How the app takes the change, from its profile; the configure role's default for O(app).
    - C(action) is one of V(reload), V(restart), V(command) (with C(command)) or V(none) (the app reads its files on every use).
  returned: always
  type: dict
  sample: {name: postfix, action: reload}
path:
  description: The config file (the app's main file).
  returned: always
  type: str
  sample: /etc/myapp/config.json
format:
  description: The format the file was read and written as.
  returned: always
  type: str
  sample: json
key:
  description: Where the block lives (dotted path, section, prefix or account).
  returned: always
  type: str
  sample: smtp
created:
  description: Whether the file did not exist before this run.
  returned: always
  type: bool
  sample: false
secret_changed:
  description: Whether a secret (password or token) differs from the one in the file. Its value is never returned.
  returned: always
  type: bool
  sample: true
backup_file:
  description: The copy of the previous file.
  returned: when O(backup=true) and the file changed
  type: str
  sample: /etc/myapp/config.json.5f0c2a9e1b7d3c44.2026-11-24@10:00:00~
previous_mode:
  description:
    - The mode the previous file had. The backup may be narrower (never wider than O(mode)); to restore the
      previous file exactly, copy RV(backup_file) back with this mode.
  returned: when O(backup=true) and the file changed
  type: str
  sample: '0640'
verification:
  description:
    - What the SMTP conversation that proved the settings learnt (the facts M(email_ops.smtp.smtp_test) returns),
      plus C(mode), V(probe) or V(send).
    - On failure it is returned with C(failure).
  returned: when the settings were verified
  type: dict
  sample: {mode: send, sent: true, stage_reached: send, message_id: "<...@example.com>"}
failure:
  description: Why verification failed, for a human and for automation.
  returned: when verification failed
  type: dict
  contains:
    category:
      description:
        - One of V(dns), V(connect), V(timeout), V(tls), V(certificate), V(auth), V(sender), V(recipient),
          V(data), V(protocol), or V(oauth) when no OAuth2 token could be fetched (O(settings.oauth2)).
      type: str
      sample: auth
    stage:
      description: The stage that failed.
      type: str
      sample: auth
    code:
      description: The SMTP reply code, when there was one.
      type: int
      sample: 535
    hint:
      description: What to do about it.
      type: str
      sample: the server refused the username or password
    reason:
      description:
        - With O(settings.oauth2), which part of the token exchange failed - V(unreachable), V(certificate),
          V(client), V(grant), V(scope), V(http) or V(response) at the token endpoint.
      type: str
      returned: when category is V(oauth)
      sample: client
msg:
  description: What happened, in one line.
  returned: always
  type: str
  sample: settings written after a verified send
'''

from ansible_collections.email_ops.smtp.plugins.module_utils._host_python import fail_if_unsupported

try:
    from ansible_collections.email_ops.smtp.plugins.module_utils._app_files import AppFiles
    from ansible_collections.email_ops.smtp.plugins.module_utils._config_file import ConfigError
    from ansible_collections.email_ops.smtp.plugins.module_utils._formats import FormatError
    from ansible_collections.email_ops.smtp.plugins.module_utils._settings import settings_argument_spec
    from ansible_collections.email_ops.smtp.plugins.module_utils._settings_module import SettingsModule
    IMPORT_ERROR = None
except (ImportError, SyntaxError) as exc:  # a host Python older than 3.6: main() says so
    IMPORT_ERROR = exc


def argument_spec():
    """The module's options (the unit tests build a real AnsibleModule from them too)."""
    spec = settings_argument_spec()
    spec.update(
        path=dict(type='path'),
        paths=dict(type='dict'),
        follow=dict(type='bool', default=False),
        app=dict(type='str', default='generic'),
        profile=dict(type='str'),
        plan=dict(type='dict'),  # set by the action plugin from the app profile
        format=dict(type='str', choices=['json', 'yaml', 'ini', 'env', 'msmtp', 'assign', 'equals', 'map', 'aliases', 'colon', 'shellvars', 'whole']),
        key=dict(type='str', no_log=False),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        update_password=dict(type='str', default='always', choices=['always', 'on_create'], no_log=False),
        backup=dict(type='bool', default=False),
        validate=dict(type='str'),
        verify=dict(type='str', default='none', choices=['none', 'probe', 'send']),
        verify_when=dict(type='str', default='changed', choices=['changed', 'always']),
        verify_deliveries=dict(type='str', default='every_host', choices=['every_host', 'once']),  # the action plugin's
        mode=dict(type='raw'),
    )
    return spec


def main():
    fail_if_unsupported(IMPORT_ERROR)
    module = SettingsModule(argument_spec=argument_spec(), add_file_common_args=True, supports_check_mode=True)
    if not module.params['plan']:
        module.fail_json(msg='smtp_config runs through its action plugin, which renders the app profile into plan')
    try:
        result = AppFiles(module).run()
    except (ConfigError, FormatError) as exc:
        module.fail_json(msg=str(exc), **getattr(exc, 'details', {}))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
