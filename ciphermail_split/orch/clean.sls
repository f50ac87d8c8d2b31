# -*- coding: utf-8 -*-
# vim: ft=sls
{#-
  Split mode taken back on both gateways from the master:
  salt-run state.orchestrate ciphermail_split.orch.clean. The main gateway
  first, so it no longer relays portal mail when the portal stops
  accepting it; then the portal, only if the main part succeeded. Clean
  needs only the role in pillar, so the Salt Mine is not read. With
  ciphermail_split_orch:ssh the gateways are the roster's salt-ssh
  targets (orch/members.jinja).
#}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/orch/stop.jinja" import misplaced, stop with context %}
{%- from tplroot ~ "/orch/members.jinja" import ssh, members, roster_problems with context %}
{%- set problems = (misplaced or roster_problems) | list %}
{%- for role, found in (members.items() if ssh and not problems else []) | sort %}
{%-   if not found %}
{%-     do problems.append("No target of the roster has pillar ciphermail_split:role: " ~ role ~ ".") %}
{%-   endif %}
{%- endfor %}
{%- macro targeting(role) %}
{%-   if ssh %}
    - tgt: {{ members[role] | json }}
    - tgt_type: list
    - ssh: true
{%-   else %}
    - tgt: "ciphermail_split:role:{{ role }}"
    - tgt_type: pillar
{%-   endif %}
{%- endmacro %}

{%- if problems %}
{{- stop(problems) }}
{%- else %}

ciphermail_split-orch-clean-main-cleaned:
  salt.state:
{{- targeting("main") }}
    - sls: ciphermail_split.main.clean

ciphermail_split-orch-clean-portal-cleaned:
  salt.state:
{{- targeting("portal") }}
    - sls: ciphermail_split.portal.clean
    - require:
      - salt: ciphermail_split-orch-clean-main-cleaned
{%- endif %}
