# -*- coding: utf-8 -*-
# vim: ft=sls
{#-
  Both gateways from the master: salt-run state.orchestrate ciphermail_split.orch
  (test=True passes through). The portal role first, on every minion whose
  pillar says role: portal, so the portal accepts the main gateway's mail
  before the main gateway sends it; then the main role, only if the portal
  part succeeded, on one main gateway at a time in the order of their
  minion IDs: each step requires the one before, so the run stops at the
  first main gateway that fails and the others keep what they had.
  Addresses the pillar leaves out come from the Salt Mine (see
  orch/map.jinja and README, Orchestration). With ciphermail_split_orch:ssh
  the gateways are the roster's salt-ssh targets (orch/members.jinja).
#}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/orch/map.jinja" import orch with context %}
{%- from tplroot ~ "/orch/stop.jinja" import stop with context %}

{%- if orch.problems %}
{{- stop(orch.problems) }}
{%- else %}

ciphermail_split-orch-portal-applied:
  salt.state:
{%- if orch.ssh %}
    - tgt: {{ orch.members.portal | json }}
    - tgt_type: list
    - ssh: true
{%- else %}
    - tgt: {{ orch.targets.portal | json }}
    - tgt_type: pillar
{%- endif %}
    - sls: ciphermail_split.portal
{%- if orch.pillar.portal %}
    - pillar: {{ orch.pillar.portal | json }}
{%- endif %}

{%- for minion in orch.members.main %}
{%-   set before = "ciphermail_split-orch-portal-applied" if loop.first
        else "ciphermail_split-orch-main-applied-" ~ loop.previtem %}

ciphermail_split-orch-main-applied-{{ minion }}:
  salt.state:
    - tgt: {{ minion | json }}
    - tgt_type: list
{%-   if orch.ssh %}
    - ssh: true
{%-   endif %}
    - sls: ciphermail_split.main
{%-   if orch.pillar.main %}
    - pillar: {{ orch.pillar.main | json }}
{%-   endif %}
    - require:
      - salt: {{ before }}
{%- endfor %}
{%- endif %}
