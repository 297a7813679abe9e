# -*- coding: utf-8 -*-
"""Code-as-config: the python, php and ruby marked-block formats, the literal filters that make any value data
(proven by the real python, php and ruby reading it back), and the golden files of the django, mediawiki,
roundcube, gitlab and nextcloud profiles. GitLab and Nextcloud do not install here: the real ruby and php load
the files we write and print what they hold."""
import ast
import json
import subprocess

import pytest

from ansible_collections.email_ops.smtp.plugins.module_utils._app_files import AppFiles
from ansible_collections.email_ops.smtp.plugins.module_utils._formats import FormatError, get_format
from ansible_collections.email_ops.smtp.plugins.module_utils._masking import scrub
from ansible_collections.email_ops.smtp.plugins.plugin_utils._app_profiles import ProfileProblem, _ENV, get_profile
from tests.unit.test_profiles import render, settings

SPECIAL = 'q"u\'o\\t#e;d:p%w$d x'  # the test bed's special password
# What would run as code if a value were pasted naively: interpolation, string breaks, a trailing backslash.
HOSTILE = [SPECIAL, "'; system('id'); '", '#{`id`}', '${x}{$y}', '\\', "\\'", 'é ünï ☃', '?>', '<?php', '# END']
BEGIN = {'python': '# BEGIN email_ops.smtp managed block', 'ruby': '# BEGIN email_ops.smtp managed block',
         'php': '// BEGIN email_ops.smtp managed block'}
FILTERS = {'python': 'py_literal', 'php': 'php_literal', 'ruby': 'rb_literal'}
NAMES = {'python': 'EMAIL_HOST_PASSWORD', 'php': "$config['smtp_pass']", 'ruby': "gitlab_rails['smtp_password']"}


def literal(kind, value):
    return _ENV.from_string('{{ value | %s }}' % FILTERS[kind]).render(value=value)


def run(command, stdin=''):
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def evaluate(kind, code_text):
    """What the real interpreter makes of `code_text`, a file holding one block, as JSON of every name in it."""
    if kind == 'python':
        scope = {}
        exec(compile(code_text, 'settings.py', 'exec'), scope)  # noqa: S102 - our own test text
        return dict((k, v) for k, v in scope.items() if not k.startswith('__'))
    if kind == 'php':
        return json.loads(run(['php', '-r', 'eval("?>" . stream_get_contents(STDIN)); $v = get_defined_vars(); '
                                            'unset($v["argv"], $v["argc"]); echo json_encode($v);'], code_text))
    return json.loads(run(['ruby', '-rjson', '-e', 'gitlab_rails = {}; config = {}; eval(STDIN.read); '
                                                   'print JSON.generate({"gitlab_rails" => gitlab_rails})'], code_text))


# -- the formats --------------------------------------------------------------------------------------------------

OWN_TEXT = {
    'python': "import os\n# the project's own\nEMAIL_HOST = 'old.example.com'\nDEBUG = False",
    'php': "<?php\n$config = [];\n$config['smtp_host'] = 'localhost:587';\n?>\n",
    'ruby': "external_url 'https://gitlab.example.com'\n# gitlab_rails['smtp_enable'] = false\n",
}


@pytest.mark.parametrize('kind', sorted(OWN_TEXT))
def test_block_goes_last_is_replaced_in_place_and_the_rest_stays_byte_for_byte(kind):
    fmt = get_format(kind)
    own = OWN_TEXT[kind]
    block = {NAMES[kind]: literal(kind, SPECIAL), 'A_NUMBER' if kind != 'php' else '$a_number': literal(kind, 587)}
    text = fmt.write_block(own, '', block)
    assert fmt.read_block(text, '') == block and fmt.write_block(text, '', block) == text
    if kind == 'php':  # before the closing tag, which stays last
        head, tail = own.rsplit('?>', 1)
        assert text.startswith(head) and text.endswith('?>' + tail) and BEGIN[kind] in text
    else:
        assert text.startswith(own.rstrip('\n') + '\n' + BEGIN[kind] + '\n')
    # the app's own line after our block survives; a new value replaces ours where it is
    text += '# added by hand later\n'
    changed = fmt.write_block(text, '', {NAMES[kind]: literal(kind, 'other')})
    assert changed.endswith('# added by hand later\n') and fmt.read_block(changed, '') == {NAMES[kind]: literal(kind, 'other')}
    removed = fmt.remove_block(changed, '')
    assert fmt.read_block(removed, '') is None and removed.startswith(own.rstrip('\n'))
    assert fmt.remove_block(own, '') == own and fmt.read_block(own, '') is None


@pytest.mark.parametrize('kind', sorted(OWN_TEXT))
def test_values_are_data_for_the_real_interpreter(kind):
    fmt = get_format(kind)
    names = {'python': 'V%d', 'php': "$v['%d']", 'ruby': "gitlab_rails['%d']"}[kind]
    block = dict((names % index, literal(kind, value)) for index, value in enumerate(HOSTILE))
    block[names % 99] = literal(kind, {'ssl': {'verify_peer': True, 'cafile': None, 'port': 465}})
    text = fmt.write_block('', '', block)
    found = evaluate(kind, text)
    values = found if kind == 'python' else found['v' if kind == 'php' else 'gitlab_rails']
    for index, value in enumerate(HOSTILE):
        assert values[('V%d' if kind == 'python' else '%d') % index] == value
    assert values['V99' if kind == 'python' else '99'] == {'ssl': {'verify_peer': True, 'cafile': None, 'port': 465}}


@pytest.mark.parametrize('kind', sorted(OWN_TEXT))
def test_code_is_refused_without_echoing_it(kind):
    fmt = get_format(kind)
    name = NAMES[kind]
    interpolating = [] if kind == 'python' else ['"#{x}"', '"$x"']  # a Python "..." is data
    for code in ["__import__('os').system('id')", "'a' . `id`", 'system("id")', "f'{x}'", "'open", 'x'] + interpolating:
        with pytest.raises(FormatError) as caught:
            fmt.write_block('', '', {name: code})
        assert code not in str(caught.value) and FILTERS[kind] in str(caught.value)
    with pytest.raises(FormatError, match='line break'):
        fmt.write_block('', '', {name: "'secret\nvalue'"})
    assert '= ******** (changed)' in fmt.write_block('', '', {name: '******** (changed)'})  # a diff's masked secret
    with pytest.raises(FormatError, match='not a usable'):
        fmt.write_block('', '', {'x = 1; y': "'v'"})


def test_a_php_block_is_written_only_where_php_runs_and_python_keywords_are_no_names():
    with pytest.raises(FormatError, match='no <.php opening tag'):
        get_format('php').write_block('<html>not php</html>\n', '', {'$a': '1'})
    with pytest.raises(FormatError, match='Python keyword'):
        get_format('python').write_block('', '', {'True': '1'})


def test_a_begin_marker_without_its_end_is_refused():
    with pytest.raises(FormatError, match='line 2: .* has no matching END'):
        get_format('python').read_block("X = 1\n# BEGIN email_ops.smtp managed block\nY = 2\n", '')


def test_line_breaks_are_refused_by_the_php_and_ruby_filters_naming_the_app():
    with pytest.raises(ProfileProblem, match="app roundcube, file config, entry .*smtp_pass.*cannot hold a line break"):
        render('roundcube', settings(password='two\nlines'))
    assert literal('python', 'two\nlines') == "'two\\nlines'"  # Python's repr escapes it


@pytest.mark.parametrize('kind', sorted(OWN_TEXT))
def test_masking_covers_the_form_each_language_writes(kind):
    written = literal(kind, SPECIAL)
    assert scrub(written, [SPECIAL]) == written[0] + '********' + written[-1]


# -- the profiles: golden files, read back by the real interpreters ------------------------------------------------

DJANGO = '''# BEGIN email_ops.smtp managed block
EMAIL_BACKEND = 'django.core.mail.backends.smtp.EmailBackend'
EMAIL_HOST = 'smtp.example.com'
EMAIL_PORT = 587
EMAIL_USE_TLS = True
EMAIL_USE_SSL = False
EMAIL_HOST_USER = 'relay@example.com'
EMAIL_HOST_PASSWORD = 'q"u\\'o\\\\t#e;d:p%w$d x'
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = '"Ops, Bot" <alerts@example.com>'
SERVER_EMAIL = 'alerts@example.com'
ADMINS = [('Ops', 'ops@example.com'), ('dev', 'dev@example.com')]
# END email_ops.smtp managed block
'''


def test_django_golden_and_refusals():
    recipients = [{'email': 'ops@example.com', 'name': 'Ops'}, {'email': 'dev@example.com'}]
    texts, plan, warnings = render('django', settings(password=SPECIAL, from_name='Ops, Bot', error_recipients=recipients),
                                   path='/srv/site/settings.py')
    assert texts['settings'] == DJANGO and not warnings and plan['files'][0]['secrets'] == ['EMAIL_HOST_PASSWORD']
    values = evaluate('python', DJANGO)
    assert values['EMAIL_HOST_PASSWORD'] == SPECIAL and values['ADMINS'][1] == ('dev', 'dev@example.com')
    implicit, _plan, warnings = render('django', settings(security='ssl', port=465, auth_method='login', helo_name='h'),
                                       path='/srv/site/settings.py')
    assert 'EMAIL_USE_TLS = False\nEMAIL_USE_SSL = True\n' in implicit['settings'] and len(warnings) == 2
    for given, words in ((settings(ca_file='/ca.pem'), 'update-ca-certificates'),
                         (settings(validate_certs=False), 'always verifies'),
                         (settings(auth_method='xoauth2'), 'no xoauth2')):
        with pytest.raises(ProfileProblem, match='app django cannot express these settings: .*%s' % words):
            render('django', given, path='/srv/site/settings.py')


MEDIAWIKI = '''<?php
# installer's settings
$wgSitename = 'Wiki';
// BEGIN email_ops.smtp managed block
$wgEnableEmail = true;
$wgPasswordSender = 'alerts@example.com';
$wgEmergencyContact = 'ops@example.com';
$wgSMTP = ['host' => 'ssl://smtp.example.com', 'port' => 465, 'IDHost' => 'example.com', 'localhost' => 'wiki.example.com', \
'auth' => 'LOGIN', 'username' => 'relay@example.com', 'socket_options' => ['ssl' => ['verify_peer' => true, \
'verify_peer_name' => true, 'allow_self_signed' => false, 'cafile' => '/etc/ssl/ca.pem']]];
$wgSMTP['password'] = 'q"u\\'o\\\\t#e;d:p%w$d x';
// END email_ops.smtp managed block
'''.replace('\\\n', '')


def test_mediawiki_golden_and_refusals():
    given = settings(password=SPECIAL, security='ssl', port=465, auth_method='login', ca_file='/etc/ssl/ca.pem',
                     helo_name='wiki.example.com')
    texts, plan, warnings = render('mediawiki', given, old={'localsettings': "<?php\n# installer's settings\n$wgSitename = 'Wiki';\n"})
    assert texts['localsettings'] == MEDIAWIKI and not warnings
    assert plan['files'][0]['path'] == '/etc/mediawiki/LocalSettings.php' and plan['files'][0]['group'] == 'www-data'
    values = evaluate('php', MEDIAWIKI)
    assert values['wgSMTP']['password'] == SPECIAL and values['wgSMTP']['socket_options']['ssl']['cafile'] == '/etc/ssl/ca.pem'
    starttls, _plan, warnings = render('mediawiki', settings())
    assert "'host' => 'smtp.example.com', 'port' => 587" in starttls['localsettings'] and "'auth' => true" in starttls['localsettings']
    assert 'downgrade' in warnings[0]
    with pytest.raises(ProfileProblem, match='app mediawiki cannot express these settings: .*only before AUTH'):
        render('mediawiki', settings(username=None, password=None, auth_method='none'))
    with pytest.raises(ProfileProblem, match='app mediawiki cannot express these settings: .*OAuth2'):
        render('mediawiki', settings(auth_method='oauthbearer'))


ROUNDCUBE = '''<?php
$config = [];
$config['smtp_host'] = 'localhost:587';
$config['smtp_user'] = '%u';
// BEGIN email_ops.smtp managed block
$config['smtp_host'] = 'tls://smtp.example.com:587';
$config['smtp_user'] = 'relay@example.com';
$config['smtp_pass'] = 'q"u\\'o\\\\t#e;d:p%w$d x';
$config['smtp_auth_type'] = null;
$config['smtp_helo_host'] = '';
$config['smtp_timeout'] = 30;
$config['smtp_conn_options'] = ['ssl' => ['verify_peer' => false, 'verify_peer_name' => false, 'allow_self_signed' => false]];
// END email_ops.smtp managed block
'''


def test_roundcube_golden_and_refusals():
    own = "<?php\n$config = [];\n$config['smtp_host'] = 'localhost:587';\n$config['smtp_user'] = '%u';\n"
    texts, plan, warnings = render('roundcube', settings(password=SPECIAL, validate_certs=False), old={'config': own})
    assert texts['config'] == ROUNDCUBE and 'identity' in warnings[0]
    values = evaluate('php', ROUNDCUBE)['config']
    assert values['smtp_host'] == 'tls://smtp.example.com:587' and values['smtp_pass'] == SPECIAL  # ours win
    implicit, _plan, _warnings = render('roundcube', settings(security='ssl', port=465, auth_method='cram-md5'))
    assert "'ssl://smtp.example.com:465'" in implicit['config'] and "'CRAM-MD5'" in implicit['config']
    for given, words in ((settings(auth_method='xoauth2'), 'own OAuth login'), (settings(password=None), 'both smtp_user')):
        with pytest.raises(ProfileProblem, match='app roundcube cannot express these settings: .*%s' % words):
            render('roundcube', given)


GITLAB_OWN = "external_url 'https://gitlab.example.com'\n# gitlab_rails['smtp_enable'] = false\n"
GITLAB = GITLAB_OWN + '''# BEGIN email_ops.smtp managed block
gitlab_rails['smtp_enable'] = true
gitlab_rails['smtp_address'] = 'smtp.example.com'
gitlab_rails['smtp_port'] = 465
gitlab_rails['smtp_user_name'] = 'relay@example.com'
gitlab_rails['smtp_password'] = 'q"u\\'o\\\\t#e;d:p%w$d x'
gitlab_rails['smtp_domain'] = 'example.com'
gitlab_rails['smtp_authentication'] = 'plain'
gitlab_rails['smtp_enable_starttls_auto'] = false
gitlab_rails['smtp_tls'] = true
gitlab_rails['smtp_ca_file'] = '/etc/ssl/ca.pem'
gitlab_rails['smtp_openssl_verify_mode'] = 'peer'
gitlab_rails['smtp_pool'] = false
gitlab_rails['gitlab_email_enabled'] = true
gitlab_rails['gitlab_email_from'] = 'alerts@example.com'
gitlab_rails['gitlab_email_display_name'] = 'GitLab Ops'
gitlab_rails['gitlab_email_reply_to'] = 'alerts@example.com'
# END email_ops.smtp managed block
'''


def test_gitlab_golden_loaded_by_the_real_ruby(tmp_path):
    given = settings(password=SPECIAL, security='ssl', port=465, ca_file='/etc/ssl/ca.pem', from_name='GitLab Ops')
    texts, plan, warnings = render('gitlab', given, old={'gitlab_rb': GITLAB_OWN})
    assert texts['gitlab_rb'] == GITLAB and plan['service'] == {'action': 'command', 'command': 'gitlab-ctl reconfigure'}
    assert any('quotes in smtp_password' in w for w in warnings) and plan['files'][0]['mode'] == '0600'
    path = tmp_path / 'gitlab.rb'
    path.write_text(GITLAB)
    # gitlab.rb as Omnibus reads it: Ruby code that fills gitlab_rails; external_url is a method there.
    loaded = json.loads(run(['ruby', '-rjson', '-e', 'def external_url(u); end; gitlab_rails = Hash.new; '
                             'binding.eval(File.read(ARGV[0]), ARGV[0]); print JSON.generate(gitlab_rails)', str(path)]))
    assert loaded == {
        'smtp_enable': True, 'smtp_address': 'smtp.example.com', 'smtp_port': 465, 'smtp_user_name': 'relay@example.com',
        'smtp_password': SPECIAL, 'smtp_domain': 'example.com', 'smtp_authentication': 'plain',
        'smtp_enable_starttls_auto': False, 'smtp_tls': True, 'smtp_ca_file': '/etc/ssl/ca.pem',
        'smtp_openssl_verify_mode': 'peer', 'smtp_pool': False, 'gitlab_email_enabled': True,
        'gitlab_email_from': 'alerts@example.com', 'gitlab_email_display_name': 'GitLab Ops',
        'gitlab_email_reply_to': 'alerts@example.com'}
    starttls, _plan, _warnings = render('gitlab', settings(username=None, password=None, auth_method='none'))
    assert "smtp_enable_starttls_auto'] = true\ngitlab_rails['smtp_tls'] = false\n" in starttls['gitlab_rb']
    assert 'smtp_user_name' not in starttls['gitlab_rb'] and 'smtp_authentication' not in starttls['gitlab_rb']
    with pytest.raises(ProfileProblem, match='app gitlab cannot express these settings: .*no xoauth2'):
        render('gitlab', settings(auth_method='xoauth2'))


NEXTCLOUD = '''<?php
// BEGIN email_ops.smtp managed block
$CONFIG['mail_smtpmode'] = 'smtp';
$CONFIG['mail_smtphost'] = 'smtp.example.com';
$CONFIG['mail_smtpport'] = 465;
$CONFIG['mail_smtpsecure'] = 'ssl';
$CONFIG['mail_smtpauth'] = true;
$CONFIG['mail_smtpname'] = 'relay@example.com';
$CONFIG['mail_smtppassword'] = 'q"u\\'o\\\\t#e;d:p%w$d x';
$CONFIG['mail_smtptimeout'] = 30;
$CONFIG['mail_from_address'] = 'alerts';
$CONFIG['mail_domain'] = 'example.com';
$CONFIG['mail_smtpstreamoptions'] = ['ssl' => ['verify_peer' => true, 'verify_peer_name' => true, 'allow_self_signed' => false, \
'cafile' => '/etc/ssl/ca.pem']];
// END email_ops.smtp managed block
'''.replace('\\\n', '')


def test_nextcloud_golden_merged_by_the_real_php_as_nextcloud_does(tmp_path):
    given = settings(password=SPECIAL, security='ssl', port=465, ca_file='/etc/ssl/ca.pem')
    texts, plan, warnings = render('nextcloud', given)
    assert texts['config'] == NEXTCLOUD and plan['files'][0]['path'].endswith('/config/email_ops_smtp.config.php')
    config_dir = tmp_path / 'config'
    config_dir.mkdir()
    (config_dir / 'config.php').write_text("<?php\n$CONFIG = array (\n  'instanceid' => 'abc',\n  'mail_smtpmode' => 'sendmail',\n);\n")
    (config_dir / 'email_ops_smtp.config.php').write_text(NEXTCLOUD)
    # lib/private/Config.php: config.php, then every *.config.php, each included with $CONFIG unset, merged in turn
    merged = json.loads(run(['php', '-r', '$cache = []; $files = array_merge([$argv[1] . "/config.php"], glob($argv[1] . "/*.config.php")); '
                             'foreach ($files as $file) { unset($CONFIG); include $file; '
                             'if (isset($CONFIG) && is_array($CONFIG)) { $cache = array_merge($cache, $CONFIG); } } '
                             'echo json_encode($cache);', str(config_dir)]))
    assert merged == {
        'instanceid': 'abc', 'mail_smtpmode': 'smtp', 'mail_smtphost': 'smtp.example.com', 'mail_smtpport': 465,
        'mail_smtpsecure': 'ssl', 'mail_smtpauth': True, 'mail_smtpname': 'relay@example.com', 'mail_smtppassword': SPECIAL,
        'mail_smtptimeout': 30, 'mail_from_address': 'alerts', 'mail_domain': 'example.com',
        'mail_smtpstreamoptions': {'ssl': {'verify_peer': True, 'verify_peer_name': True, 'allow_self_signed': False,
                                           'cafile': '/etc/ssl/ca.pem'}}}
    starttls, _plan, warnings = render('nextcloud', settings())
    assert "$CONFIG['mail_smtpsecure'] = '';" in starttls['config'] and 'without TLS' in warnings[0]
    with pytest.raises(ProfileProblem, match='app nextcloud cannot express these settings: .*no xoauth2'):
        render('nextcloud', settings(auth_method='xoauth2'))


def test_python_literal_is_what_ast_reads():
    for value in HOSTILE + [None, True, 0, [('a', 'b')], {'k': ('x',)}]:
        assert ast.literal_eval(literal('python', value)) == value


# -- through the module's own code: four runs, the app's own lines survive, the diff masks the escaped secret ------

OWN = {'django': OWN_TEXT['python'] + '\n', 'mediawiki': "<?php\n$wgSitename = 'Wiki';\n", 'roundcube': OWN_TEXT['php'],
       'gitlab': GITLAB_OWN, 'nextcloud': None}


@pytest.mark.parametrize('app', sorted(OWN))
def test_code_app_four_runs(app, tmp_path):
    from tests.unit.test_app_files import RecordingModule, plan_for, state
    given = settings(password=SPECIAL)
    file_id = get_profile(app)['files'][0]['id']
    if OWN[app] is not None:
        (tmp_path / file_id).write_text(OWN[app])
    plan = plan_for(app, tmp_path, given)
    before = state(tmp_path)
    forms = [SPECIAL, literal('python', SPECIAL), literal('php', SPECIAL)]

    module = RecordingModule(plan, given, check_mode=True)
    result = AppFiles(module).run()
    assert result['changed'] and state(tmp_path) == before
    assert not any(form in repr(result['diff']) for form in forms) and '********' in result['diff']['after']

    result = AppFiles(RecordingModule(plan, given)).run()
    written = (tmp_path / file_id).read_text()
    assert result['changed'] and written.startswith((OWN[app] or '<?php\n').replace('?>\n', ''))
    entries = dict((name, value) for name, value in plan['files'][0]['entries'].items() if value is not None)
    assert get_format(plan['files'][0]['formats'][0]).read_block(written, '') == entries
    after = state(tmp_path)
    for check_mode in (True, False):
        result = AppFiles(RecordingModule(plan, given, check_mode=check_mode)).run()
        assert result['changed'] is False and state(tmp_path) == after
