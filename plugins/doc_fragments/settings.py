# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # The settings document shared by smtp_config and smtp_test (schemas/smtp_settings.schema.json).
    DOCUMENTATION = r'''
options:
  settings:
    description:
      - The application's email settings, one mapping shaped like C(schemas/smtp_settings.schema.json).
      - Validated on the controller before anything reaches the host; every error is reported at once,
        each with its path.
    type: dict
    required: true
    suboptions:
      connection_type:
        description: Connection Type. SMTP is the only one today.
        type: str
        default: smtp
        choices: [smtp]
      host:
        description: SMTP Server, a host name or IP address.
        type: str
        required: true
      port:
        description: Port Number (1-65535). 587 submission with STARTTLS, 465 implicit TLS, 25 relay.
        type: int
        default: 587
      security:
        description:
          - Enable SSL.
          - V(starttls) upgrades a plain connection and fails if the server does not offer STARTTLS.
          - V(ssl) speaks TLS from the first byte (implicit TLS, usually port 465).
          - V(none) sends in clear text.
        type: str
        default: starttls
        choices: [starttls, ssl, none]
      auth_method:
        description:
          - SASL mechanism. V(auto) picks the strongest one the server offers when a O(settings.username) is given.
          - V(xoauth2) (Google, Microsoft) and V(oauthbearer) (RFC 7628) log in with an OAuth2 access token, fetched
            with O(settings.oauth2) or given as O(settings.password).
        type: str
        default: auto
        choices: [auto, plain, login, cram-md5, xoauth2, oauthbearer, none]
      username:
        description: Username that authenticates, often the sender's address.
        type: str
      password:
        description:
          - Password, application password, or OAuth2 access token. Never shown in results, diffs or logs.
        type: str
      oauth2:
        description:
          - OAuth2 client of an app registration (Microsoft Entra, Google). With it each host fetches a fresh access
            token from O(settings.oauth2.token_url) right before AUTH (client credentials grant, or the refresh token
            grant when O(settings.oauth2.refresh_token) is set).
          - Needs O(settings.auth_method=xoauth2) or O(settings.auth_method=oauthbearer). Tokens and secrets are never shown.
        type: dict
        suboptions:
          token_url:
            description: The token endpoint, https only.
            type: str
            required: true
          client_id:
            description: The application (client) id.
            type: str
            required: true
          client_secret:
            description: The client secret. Never shown in results, diffs or logs.
            type: str
            required: true
          scope:
            description: Scopes asked for, space separated.
            type: str
          refresh_token:
            description: A refresh token; with it the refresh token grant is used. Never shown in results, diffs or logs.
            type: str
          ca_file:
            description: CA bundle on the managed host for the token endpoint's certificate; the system trust store when unset.
            type: path
      from_email:
        description: From Email, the sender address recipients see.
        type: str
        required: true
      from_name:
        description: Display name shown with O(settings.from_email).
        type: str
      test_email:
        description: Test Email Address, where test messages go.
        type: str
      error_recipients:
        description: Sending Error Logs, who is told when sending fails.
        type: list
        elements: dict
        suboptions:
          email:
            description: Address to notify.
            type: str
            required: true
          name:
            description: Display name.
            type: str
      timeout:
        description: Seconds to wait on each network step.
        type: int
        default: 30
      validate_certs:
        description: Verify the server's certificate chain and host name.
        type: bool
        default: true
      ca_file:
        description: Path on the managed host to a PEM bundle of CAs to trust instead of the system store.
        type: path
      helo_name:
        description: Name sent with EHLO; the host's FQDN when unset.
        type: str
      allow_insecure_auth:
        description: Must be V(true) to send a password with O(settings.security=none).
        type: bool
        default: false
'''
