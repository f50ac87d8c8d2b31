# -*- coding: utf-8 -*-
# vim: ft=sls
{#-
  Portal (DMZ) gateway: accept mail from the main gateway (mynetworks), add
  the private domain with revert-rewrite-recipient, and set the header
  triggers of the enabled messengers (a disabled one has its trigger off).
  The three run in this order but do not require each other: each reports
  its own outcome (with the CipherMail back-end down, the Postfix part
  still applies), and the next run completes what failed.
#}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata, problems with context %}
{%- from tplroot ~ "/stop.jinja" import refuse with context %}
{%- if problems %}
{{- refuse(problems) }}
{%- else %}
{%- set lookup = mapdata.lookup %}

ciphermail_split-portal-ready:
  ciphermail_split.role_ready:
    - role: portal

ciphermail_split-portal-mynetworks-present:
  ciphermail_mta.mynetworks_present:
    - addresses: {{ mapdata.main_gateway_addresses | json }}
    - parameter: {{ lookup.mynetworks_parameter | json }}
    - allow_networks: {{ mapdata.allow_networks | json }}
    - require:
      - ciphermail_split: ciphermail_split-portal-ready

ciphermail_split-portal-private-domain-present:
  ciphermail.domain_present:
    - name: {{ lookup.private_domain | json }}
    - properties: {{ lookup.private_domain_properties | json }}
    - require:
      - ciphermail_split: ciphermail_split-portal-ready

ciphermail_split-portal-header-triggers-managed:
  ciphermail.global_properties_managed:
    - require:
      - ciphermail_split: ciphermail_split-portal-ready
    - properties:
{%- for messenger, trigger in lookup.triggers.items() %}
{%-   if mapdata.messengers[messenger] %}
        {{ trigger.header_property }}: {{ trigger.header | json }}
        {{ trigger.enabled_property }}: true
{%-   else %}
        {{ trigger.enabled_property }}: false
{%-   endif %}
{%- endfor %}
{%- endif %}
