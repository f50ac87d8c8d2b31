# -*- coding: utf-8 -*-
# vim: ft=sls
{#-
  Main (internal) gateway: the transport entry for the private domain first,
  so that portal mail never queues for a domain nobody resolves; then the
  Ansible override, and cm-run-playbook when it changed (or a run is pending).
#}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata, problems with context %}
{%- from tplroot ~ "/stop.jinja" import refuse with context %}
{%- if problems %}
{{- refuse(problems) }}
{%- else %}
{%- set lookup = mapdata.lookup %}

ciphermail_split-main-ready:
  ciphermail_split.role_ready:
    - role: main

ciphermail_split-main-transport-present:
  ciphermail_mta.transport_present:
    - name: {{ lookup.private_domain | json }}
    - host: {{ mapdata.portal_server | json }}
    - port: {{ mapdata.portal_port | json }}
    - require:
      - ciphermail_split: ciphermail_split-main-ready

ciphermail_split-main-override-present:
  ciphermail_ansible.override_keys_present:
    - values:
        {{ lookup.override_key }}: true
    - require:
      - ciphermail_mta: ciphermail_split-main-transport-present

ciphermail_split-main-playbook-applied:
  ciphermail_ansible.playbook_applied:
    - watch:
      - ciphermail_ansible: ciphermail_split-main-override-present
{%- endif %}
