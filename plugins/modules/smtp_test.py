#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: smtp_test
short_description: Send a test email, or probe an SMTP server stage by stage, from the managed host
version_added: 0.1.0
description:
  - The Test button of an application's Email Configuration page, run from the managed host itself,
    so it proves that host's network path, firewall, DNS and trust store.
  - Goes as far as O(stage), like C(swaks --quit-after), and returns what an engineer debugging mail needs
    (banner, ESMTP features, TLS version, cipher and certificate, auth mechanism, per-step timings).
  - On failure, returns a one-line C(msg) and RV(failure) with a category, the stage, the SMTP reply code
    and a hint saying what to do.
  - The settings document (O(settings)) is validated against C(schemas/smtp_settings.schema.json) on the
    controller first; every problem is reported at once with its path and nothing reaches the host.
  - Check mode never sends a message. It goes at most as far as V(rcpt) (connect, EHLO, STARTTLS, AUTH,
    MAIL FROM, RCPT TO), then RSET and QUIT, so C(--check) proves everything but delivery.
author:
  - email_ops maintainers (@email-ops)
requirements:
  - jsonschema >= 4.18 on the controller (C(pip install jsonschema)); it validates O(settings) before anything reaches the host.
  - Python 3.6 or later on the managed host, standard library only.
extends_documentation_fragment:
  - email_ops.smtp.settings
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  action:
    support: full
    details: The action plugin validates O(settings) on the controller.
  action_group:
    support: full
    membership:
      - email_ops.smtp.smtp
  async:
    support: none
    details: The task fails at once, saying that the action does not support async; nothing is sent.
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Goes no further than O(stage=rcpt); nothing is delivered.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  to:
    description:
      - Recipient of the test message. Defaults to O(settings.test_email).
      - Needed when O(stage) is V(rcpt) or V(send).
    type: str
  subject:
    description: Subject of the test message. Defaults to C(SMTP test from <host's FQDN>).
    type: str
  body:
    description: Body of the test message. Defaults to a text saying which host sent it, when, and through which server.
    type: str
  stage:
    description:
      - How far to go. Each stage includes the ones before it.
      - V(connect) opens the TCP connection (and TLS with O(settings.security=ssl)), reads the greeting, sends EHLO.
      - V(tls) upgrades with STARTTLS when O(settings.security=starttls), then EHLO again.
      - V(auth) logs in with O(settings.auth_method), when there is something to log in with.
      - V(rcpt) sends MAIL FROM and RCPT TO, then RSET, so nothing is delivered.
      - V(send) delivers a test message.
    type: str
    default: send
    choices: [connect, tls, auth, rcpt, send]
notes:
  - The password or access token never appears in results, errors or C(-vvvv) output. Keep it in Ansible Vault.
  - Supported with ansible-core 2.16 to 2.21, and managed hosts with Python 3.6 to 3.13.
  - With O(settings.security=starttls) the task fails when the server does not offer STARTTLS; it never falls
    back to clear text. Certificates and host names are verified unless O(settings.validate_certs=false).
  - Needs only Python's standard library on the managed host.
seealso:
  - module: email_ops.smtp.smtp_config
    description: Writes the settings into the app's config file, optionally proven by this same conversation first.
  - name: The email_ops.smtp.configure role
    description: Proves, writes and applies the settings per host, with rollback (C(ansible-doc -t role email_ops.smtp.configure)).
    link: https://github.com/email-ops/smtp/blob/main/roles/configure/README.md
  - name: swaks, the Swiss Army Knife for SMTP
    description: The command line tool whose C(--quit-after) inspired O(stage).
    link: https://jetmore.org/john/code/swaks/
'''

EXAMPLES = r'''
- name: Send a test email the way the application will
  email_ops.smtp.smtp_test:
    settings: "{{ smtp_settings }}"

- name: Prove the whole path except delivery (also what --check does)
  email_ops.smtp.smtp_test:
    settings: "{{ smtp_settings }}"
    stage: rcpt

- name: Is the TLS certificate of the relay about to expire?
  email_ops.smtp.smtp_test:
    settings:
      host: smtp.example.com
      port: 465
      security: ssl
      from_email: alerts@example.com
    stage: tls
  register: probe

- name: Report it
  ansible.builtin.debug:
    msg: "{{ probe.tls.peer_certificate.not_after }}"

- name: Test send to someone else, with an OAuth2 access token
  email_ops.smtp.smtp_test:
    settings:
      host: smtp.gmail.com
      port: 587
      auth_method: xoauth2
      username: alerts@example.com
      password: "{{ oauth2_access_token }}"
      from_email: alerts@example.com
    to: oncall@example.com
    subject: Alerting mail path check

- name: Probe every host, report the failures without stopping
  email_ops.smtp.smtp_test:
    settings: "{{ smtp_settings }}"
    stage: auth
  register: smtp_probe
  ignore_errors: true

- name: Say what to fix
  ansible.builtin.debug:
    msg: "{{ smtp_probe.failure.category }} at {{ smtp_probe.failure.stage }}: {{ smtp_probe.failure.hint }}"
  when: smtp_probe is failed
'''

RETURN = r'''
msg:
  description: What happened, in one line; on failure, what went wrong where.
  returned: always
  type: str
  sample: sent a test message to ops@example.com through smtp.example.com:587
sent:
  description: Whether a message was delivered to the server (only with O(stage=send), never in check mode).
  returned: always
  type: bool
  sample: true
stage_reached:
  description:
    - The last stage completed, V(connect), V(tls), V(auth), V(rcpt) or V(send).
    - Null when even connecting failed.
  returned: always
  type: str
  sample: send
banner:
  description: The server's greeting (its 220 reply text).
  returned: when the server greeted
  type: str
  sample: mail.example.com ESMTP Postfix (Debian/GNU)
esmtp_features:
  description: ESMTP extensions from the last EHLO reply (after STARTTLS, when used), name to parameters.
  returned: always
  type: dict
  sample: {"size": "10240000", "pipelining": "", "auth": "PLAIN LOGIN", "8bitmime": ""}
tls:
  description: The TLS session; null without TLS.
  returned: always
  type: dict
  contains:
    version:
      description: Protocol version.
      type: str
      sample: TLSv1.3
    cipher:
      description: Cipher suite.
      type: str
      sample: TLS_AES_256_GCM_SHA384
    peer_certificate:
      description: The server's certificate; null when it was not verified (O(settings.validate_certs=false)).
      type: dict
      contains:
        subject:
          description: Subject distinguished name.
          type: str
          sample: CN=mail.example.com
        issuer:
          description: Issuer distinguished name.
          type: str
          sample: C=US, O=Let's Encrypt, CN=R11
        not_before:
          description: Start of validity, UTC, ISO 8601.
          type: str
          sample: "2026-01-01T00:00:00Z"
        not_after:
          description: End of validity, UTC, ISO 8601.
          type: str
          sample: "2026-04-01T00:00:00Z"
        subject_alt_names:
          description: Names the certificate is valid for.
          type: list
          elements: str
          sample: ["DNS:mail.example.com"]
oauth2:
  description:
    - With O(settings.oauth2), how the access token was obtained right before AUTH; never the token itself.
  returned: when a token was fetched
  type: dict
  sample: {token_endpoint: login.microsoftonline.com, grant: client_credentials,
           scope: "https://outlook.office365.com/.default", expires_in: 3599}
auth_mechanism:
  description:
    - The SASL mechanism used (or tried, when the login failed), spelt as in O(settings.auth_method).
    - Null without AUTH.
  returned: always
  type: str
  sample: plain
message_id:
  description:
    - Message-ID of the test message, on the sender's domain, to find it in the server's logs.
    - Null when no message was sent (a stage before V(send), a failure before DATA, and always in check mode).
  returned: always
  type: str
  sample: "<177000000000.12345.678901234567890@example.com>"
recipient:
  description: The envelope recipient.
  returned: always
  type: str
  sample: ops@example.com
timings_ms:
  description:
    - Milliseconds per step, for the steps that ran, and C(total).
    - Steps are C(connect) (TCP), C(tls) (implicit TLS handshake, or STARTTLS with its handshake and second EHLO),
      C(banner) (waiting for the greeting), C(ehlo), C(auth), C(mail), C(rcpt), C(data).
  returned: always
  type: dict
  sample: {"connect": 1.2, "banner": 3.4, "ehlo": 0.8, "tls": 12.5, "auth": 2.1, "mail": 0.9, "rcpt": 1.0,
           "data": 5.3, "total": 28.1}
failure:
  description: Why the session stopped, for a human and for automation.
  returned: failure
  type: dict
  contains:
    category:
      description:
        - One of V(dns), V(connect), V(timeout), V(tls), V(certificate), V(auth), V(sender), V(recipient),
          V(data), V(protocol), or V(oauth) when no OAuth2 token could be fetched (O(settings.oauth2)).
      type: str
      sample: tls
    stage:
      description: The stage that failed.
      type: str
      sample: connect
    code:
      description: The SMTP reply code, when there was one.
      type: int
      sample: 535
    hint:
      description: What to do about it.
      type: str
      sample: "port 465 speaks implicit TLS: use security: ssl"
    reason:
      description:
        - With O(settings.oauth2), which part of the token exchange failed - V(unreachable), V(certificate),
          V(client), V(grant), V(scope), V(http) or V(response) at the token endpoint.
      type: str
      returned: when category is V(oauth)
      sample: client
'''


from ansible_collections.email_ops.smtp.plugins.module_utils._host_python import fail_if_unsupported

try:
    from ansible_collections.email_ops.smtp.plugins.module_utils._settings import add_secret, protect_secrets, settings_argument_spec
    from ansible_collections.email_ops.smtp.plugins.module_utils._settings_module import SettingsModule
    from ansible_collections.email_ops.smtp.plugins.module_utils._smtp_client import STAGES, SmtpFailure, run_session
    IMPORT_ERROR = None
except (ImportError, SyntaxError) as exc:  # a host Python older than 3.6: main() says so
    IMPORT_ERROR = exc


def main():
    fail_if_unsupported(IMPORT_ERROR)
    argument_spec = settings_argument_spec()
    argument_spec.update(
        to=dict(type='str'),
        subject=dict(type='str'),
        body=dict(type='str'),
        stage=dict(type='str', default='send', choices=list(STAGES)),
    )
    module = SettingsModule(argument_spec=argument_spec, supports_check_mode=True)
    settings = module.params['settings']
    protect_secrets(module, settings)

    stage = module.params['stage']
    if module.check_mode and STAGES.index(stage) > STAGES.index('rcpt'):
        stage = 'rcpt'  # check mode proves everything but delivery
    to = module.params['to'] or settings['test_email']
    if not to and STAGES.index(stage) >= STAGES.index('rcpt'):
        module.fail_json(msg='no recipient for stage %s: set to, or settings.test_email' % stage)
    for name in ('to', 'subject'):
        if module.params[name] and ('\r' in module.params[name] or '\n' in module.params[name]):
            module.fail_json(msg='%s must be one line (no CR or LF)' % name)

    try:
        facts = run_session(settings, stage=stage, to=to, subject=module.params['subject'], body=module.params['body'],
                            on_secret=lambda value: add_secret(module, value))
    except SmtpFailure as failure:
        module.fail_json(msg=failure.msg, failure=failure.as_dict(), **failure.facts)

    where = '%s:%s' % (settings['host'], settings['port'])
    if facts['sent']:
        msg = 'sent a test message to %s through %s' % (to, where)
    else:
        msg = 'reached stage %s with %s; nothing was sent' % (facts['stage_reached'], where)
    module.exit_json(changed=facts['sent'], msg=msg, **facts)


if __name__ == '__main__':
    main()
