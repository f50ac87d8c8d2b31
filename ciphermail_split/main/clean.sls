# -*- coding: utf-8 -*-
# vim: ft=sls
{#-
  Main gateway, taken back in the reverse order: the override key (the file
  too when the formula created it and nothing else is in it), the playbook so
  portal mail is no longer routed to the private domain, then the transport
  entry, then the TLS policies of the portal nodes. Only what the formula
  added is removed (with clean_force, what the ledger cannot show as the
  formula's too); the last state fails when the gateway still takes part in
  split mode, naming what is left.
#}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata, problems with context %}
{%- from tplroot ~ "/stop.jinja" import refuse with context %}
{%- from tplroot ~ "/salt_ssh.jinja" import utils_synced with context %}
{%- if problems %}
{{- refuse(problems) }}
{%- else %}
{%- set lookup = mapdata.lookup %}

{{- utils_synced("ciphermail_split-main-clean-utils-synced", {"ciphermail_split": "ciphermail_split-main-clean-ready"}) }}

ciphermail_split-main-clean-ready:
  ciphermail_split.role_ready:
    - role: main

ciphermail_split-main-clean-override-absent:
  ciphermail_ansible.override_keys_absent:
    - keys:
      - {{ lookup.override_key }}
    - force: {{ mapdata.clean_force | json }}
    - require:
      - ciphermail_split: ciphermail_split-main-clean-ready

ciphermail_split-main-clean-playbook-applied:
  ciphermail_ansible.playbook_applied:
    - watch:
      - ciphermail_ansible: ciphermail_split-main-clean-override-absent

ciphermail_split-main-clean-transport-absent:
  ciphermail_mta.transport_absent:
    - name: {{ lookup.private_domain | json }}
    - force: {{ mapdata.clean_force | json }}
    - require:
      - ciphermail_ansible: ciphermail_split-main-clean-playbook-applied

ciphermail_split-main-clean-tls-policy-absent:
  ciphermail_mta.tls_policy_absent:
    - name: {{ lookup.private_domain | json }}
    - require:
      - ciphermail_mta: ciphermail_split-main-clean-transport-absent

ciphermail_split-main-clean-split-mode-absent:
  ciphermail_split.split_mode_absent:
    - role: main
    - force: {{ mapdata.clean_force | json }}
    - addresses: {{ mapdata.main_gateway_addresses | json }}
    - lookup:
{%- for key in ("private_domain", "override_key", "mynetworks_parameter") %}
        {{ key }}: {{ lookup[key] | json }}
{%- endfor %}
    - require:
      - ciphermail_mta: ciphermail_split-main-clean-tls-policy-absent
{%- endif %}
