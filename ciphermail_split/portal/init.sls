# -*- coding: utf-8 -*-
# vim: ft=sls
{#-
  Portal (DMZ) gateway: accept mail from the main gateway (mynetworks), add
  the private domain with revert-rewrite-recipient, and set the header
  triggers of the enabled messengers (a disabled one has its trigger off).
  The three run in this order but do not require each other: each reports
  its own outcome (with the CipherMail back-end down, the Postfix part
  still applies), and the next run completes what failed. With portal_tls,
  a read-only check comes first: Postfix offers STARTTLS with a certificate
  on the port the main gateway sends to (it fails the run otherwise, so the
  orchestration does not go on to the main gateways).
#}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata, problems with context %}
{%- from tplroot ~ "/stop.jinja" import refuse with context %}
{%- from tplroot ~ "/salt_ssh.jinja" import utils_synced with context %}
{%- if problems %}
{{- refuse(problems) }}
{%- else %}
{%- set lookup = mapdata.lookup %}

{{- utils_synced("ciphermail_split-portal-utils-synced", {"ciphermail_split": "ciphermail_split-portal-ready"}) }}

ciphermail_split-portal-ready:
  ciphermail_split.role_ready:
    - role: portal
{%- if mapdata.portal_tls.level %}

ciphermail_split-portal-starttls-offered:
  ciphermail_mta.starttls_offered:
    - port: {{ mapdata.portal_port or 25 }}
    - require:
      - ciphermail_split: ciphermail_split-portal-ready
{%- endif %}

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
