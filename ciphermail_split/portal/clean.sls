# -*- coding: utf-8 -*-
# vim: ft=sls
{#-
  Portal gateway, taken back in the reverse order: the header triggers get
  their earlier values (disabled on a gateway that had none), the private
  domain goes if the formula added it, then the main gateway's mynetworks
  entries the formula added. What an admin set is left alone (with
  clean_force, what the ledger cannot show as the formula's goes too); the
  last state fails when the gateway still takes part in split mode.
#}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata, problems with context %}
{%- from tplroot ~ "/stop.jinja" import refuse with context %}
{%- from tplroot ~ "/salt_ssh.jinja" import utils_synced with context %}
{%- if problems %}
{{- refuse(problems) }}
{%- else %}
{%- set lookup = mapdata.lookup %}

{{- utils_synced("ciphermail_split-portal-clean-utils-synced", {"ciphermail_split": "ciphermail_split-portal-clean-ready"}) }}

ciphermail_split-portal-clean-ready:
  ciphermail_split.role_ready:
    - role: portal

ciphermail_split-portal-clean-header-triggers-restored:
  ciphermail.global_properties_restored:
    - require:
      - ciphermail_split: ciphermail_split-portal-clean-ready
    - properties:
{%- for messenger, trigger in lookup.triggers.items() %}
      - {{ trigger.enabled_property }}
      - {{ trigger.header_property }}
{%- endfor %}

ciphermail_split-portal-clean-private-domain-absent:
  ciphermail.domain_absent:
    - name: {{ lookup.private_domain | json }}
    - force: {{ mapdata.clean_force | json }}
    - require:
      - ciphermail: ciphermail_split-portal-clean-header-triggers-restored

ciphermail_split-portal-clean-mynetworks-absent:
  ciphermail_mta.mynetworks_absent:
    - parameter: {{ lookup.mynetworks_parameter | json }}
{%- if mapdata.clean_force %}
    - addresses: {{ mapdata.main_gateway_addresses | json }}
    - force: true
{%- endif %}
    - require:
      - ciphermail: ciphermail_split-portal-clean-private-domain-absent

ciphermail_split-portal-clean-split-mode-absent:
  ciphermail_split.split_mode_absent:
    - role: portal
    - force: {{ mapdata.clean_force | json }}
    - addresses: {{ mapdata.main_gateway_addresses | json }}
    - lookup:
{%- for key in ("private_domain", "override_key", "mynetworks_parameter") %}
        {{ key }}: {{ lookup[key] | json }}
{%- endfor %}
    - require:
      - ciphermail_mta: ciphermail_split-portal-clean-mynetworks-absent
{%- endif %}
