# -*- coding: utf-8 -*-
# vim: ft=sls
{#-
  Portal gateway, taken back in the reverse order: the header triggers get
  their earlier values (disabled on a gateway that had none), the private
  domain goes if the formula added it, then the main gateway's mynetworks
  entries the formula added. What an admin set is left alone.
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
    - require:
      - ciphermail: ciphermail_split-portal-clean-header-triggers-restored

ciphermail_split-portal-clean-mynetworks-absent:
  ciphermail_mta.mynetworks_absent:
    - parameter: {{ lookup.mynetworks_parameter | json }}
    - require:
      - ciphermail: ciphermail_split-portal-clean-private-domain-absent
{%- endif %}
