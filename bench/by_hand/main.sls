# -*- coding: utf-8 -*-
# vim: ft=sls
{#-
  The main gateway as a careful admin writes it by hand from the vendor's
  page, with file.managed, file.replace and cmd.run: the override file, the
  playbook when it changed, the transport line, postmap when the line
  changed, and a reload of a running Postfix after a change. Only the
  benchmark (make bench) uses it.
#}
{%- from "by_hand/settings.jinja" import split, cli, playbook, env, config_dir, postconf, postmap, postfix,
                                         vars_dir, override_file with context %}
{%- set transport = config_dir ~ "/transport" %}
{%- set nexthop = "smtp:[" ~ split.portal_server ~ "]" ~ (":" ~ split.portal_port if split.get("portal_port") else "") %}

by_hand-override:
  file.managed:
    - name: {{ (vars_dir ~ "/" ~ override_file) | json }}
    - mode: "0644"
    - makedirs: true
    - contents: |
        ---
        # route email for PDF Messenger OTP mode and Webmail to the remote portal
        ciphermail_backend__remote_portal_enabled: true

by_hand-playbook:
  cmd.run:
    - name: {{ playbook | json }}
    - env: {{ env | json }}
    - timeout: 3600
    - onchanges:
      - file: by_hand-override

by_hand-transport-file:
  file.managed:
    - name: {{ transport | json }}
    - replace: false

by_hand-transport-line:
  file.replace:
    - name: {{ transport | json }}
    - pattern: '^relay-to-webmail\.private[ \t].*$'
    - repl: {{ ("relay-to-webmail.private " ~ nexthop) | json }}
    - append_if_not_found: true
    - require:
      - file: by_hand-transport-file

by_hand-transport-maps:
  cmd.run:
    - name: {{ (postconf ~ " -e transport_maps=hash:" ~ (transport | quote)) | json }}
    - unless: {{ ('test "$(' ~ postconf ~ ' -h transport_maps)" = ' ~ ("hash:" ~ transport) | quote) | json }}

by_hand-postmap:
  cmd.run:
    - name: {{ (postmap ~ " hash:" ~ (transport | quote)) | json }}
    - onchanges:
      - file: by_hand-transport-line

by_hand-postfix-reload:
  cmd.run:
    - name: {{ (postfix ~ " reload") | json }}
    - onlyif: {{ (postfix ~ " status") | json }}
    - onchanges:
      - cmd: by_hand-transport-maps
      - cmd: by_hand-postmap
