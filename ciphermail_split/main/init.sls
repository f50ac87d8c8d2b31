# -*- coding: utf-8 -*-
# vim: ft=sls
{#-
  Main (internal) gateway: with portal_tls, each portal node's TLS policy
  first, so the transport entry never names a node without one; then the
  transport entry for the private domain, so that portal mail never queues
  for a domain nobody resolves; then the TLS policies of nodes the entry no
  longer names (all of the formula's, without portal_tls) are taken back;
  then the Ansible override, and cm-run-playbook when it changed (or a run
  is pending).
#}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata, problems with context %}
{%- from tplroot ~ "/stop.jinja" import refuse with context %}
{%- from tplroot ~ "/salt_ssh.jinja" import utils_synced with context %}
{%- if problems %}
{{- refuse(problems) }}
{%- else %}
{%- set lookup = mapdata.lookup %}
{%- set tls = mapdata.portal_tls %}

{{- utils_synced("ciphermail_split-main-utils-synced", {"ciphermail_split": "ciphermail_split-main-ready"}) }}

ciphermail_split-main-ready:
  ciphermail_split.role_ready:
    - role: main
{%- if tls.level %}

ciphermail_split-main-tls-policy-present:
  ciphermail_mta.tls_policy_present:
    - name: {{ lookup.private_domain | json }}
    - host: {{ mapdata.portal_server | json }}
    - port: {{ mapdata.portal_port | json }}
    - level: {{ tls.level | json }}
    - match: {{ tls.match | json }}
    - require:
      - ciphermail_split: ciphermail_split-main-ready
{%- endif %}

ciphermail_split-main-transport-present:
  ciphermail_mta.transport_present:
    - name: {{ lookup.private_domain | json }}
    - host: {{ mapdata.portal_server | json }}
    - port: {{ mapdata.portal_port | json }}
    - require:
      - ciphermail_split: ciphermail_split-main-ready
{%- if tls.level %}
      - ciphermail_mta: ciphermail_split-main-tls-policy-present
{%- endif %}

ciphermail_split-main-tls-policy-absent:
  ciphermail_mta.tls_policy_absent:
    - name: {{ lookup.private_domain | json }}
{%- if tls.level %}
    - keep: {{ mapdata.portal_server | json }}
    - port: {{ mapdata.portal_port | json }}
{%- endif %}
    - require:
      - ciphermail_mta: ciphermail_split-main-transport-present

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
