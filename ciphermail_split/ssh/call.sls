# -*- coding: utf-8 -*-
# vim: ft=sls
{#-
  Under salt-ssh only, for the formula's wrapper module (see
  _wrapper/ciphermail_split.py): runs one of the formula's read-only
  execution functions on the target in a state run, so that it has the
  target's pillar. Pillar ciphermail_split_ssh_call: {function, kwargs},
  which the wrapper passes. Not for a minion, nor to apply by hand.
#}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/salt_ssh.jinja" import on_salt_ssh, utils_synced with context %}
{%- from tplroot ~ "/stop.jinja" import failing with context %}
{%- set call = pillar.get("ciphermail_split_ssh_call") or {} %}
{%- if not on_salt_ssh or call.get("function") not in ("status", "preflight") %}
{{- failing("ciphermail_split-ssh-call-stopped",
      sls ~ " is run by the formula's salt-ssh wrapper (salt-ssh <target> ciphermail_split.status"
      ~ " or ciphermail_split.preflight); it does nothing on its own.") }}
{%- else %}
{{- utils_synced("ciphermail_split-ssh-call-utils-synced", {"module": "ciphermail_split-ssh-call"}) }}

ciphermail_split-ssh-call:
  module.run:
    - ciphermail_split.{{ call.function }}:
{%-   for key, value in (call.get("kwargs") or {}).items() %}
      - {{ key }}: {{ value | json }}
{%-   endfor %}
{%- endif %}
