# -*- coding: utf-8 -*-
# vim: ft=sls
{#-
  Split mode taken back on both gateways from the master:
  salt-run state.orchestrate ciphermail_split.orch.clean. The main gateway
  first, so it no longer relays portal mail when the portal stops
  accepting it; then the portal, only if the main part succeeded. Clean
  needs only the role in pillar, so the Salt Mine is not read.
#}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/orch/stop.jinja" import misplaced, stop with context %}

{%- if misplaced %}
{{- stop(misplaced) }}
{%- else %}

ciphermail_split-orch-clean-main-cleaned:
  salt.state:
    - tgt: "ciphermail_split:role:main"
    - tgt_type: pillar
    - sls: ciphermail_split.main.clean

ciphermail_split-orch-clean-portal-cleaned:
  salt.state:
    - tgt: "ciphermail_split:role:portal"
    - tgt_type: pillar
    - sls: ciphermail_split.portal.clean
    - require:
      - salt: ciphermail_split-orch-clean-main-cleaned
{%- endif %}
