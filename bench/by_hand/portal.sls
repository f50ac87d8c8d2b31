# -*- coding: utf-8 -*-
# vim: ft=sls
{#-
  The portal gateway as a careful admin writes it by hand from the vendor's
  page, with cmd.run and an `unless` guard on every write: the main
  gateway's addresses in mynetworks (postconf -e), a reload of a running
  Postfix after that, then the six ciphermail-cli commands of the page, each
  skipped when the matching read (domain list, property get) shows it done.
  Only the benchmark (make bench) uses it.
#}
{%- from "by_hand/settings.jinja" import split, cli, env, postconf, postfix with context %}
{%- set domain = "relay-to-webmail.private" %}
{%- set triggers = [
      ("trigger-webmail-header", "X-Keep-CipherMail-To-Webmail: True"),
      ("trigger-webmail-header-enabled", "true"),
      ("trigger-otp-encryption-header", "X-Keep-CipherMail-To-PDF-OTP: True"),
      ("trigger-otp-encryption-header-enabled", "true"),
    ] %}

{%- for address in split.main_gateway_addresses %}
{%-   set entry = "[" ~ address ~ "]/128" if ":" in address else address %}

by_hand-mynetworks-{{ address }}:
  cmd.run:
    - name: {{ (postconf ~ ' -e "mynetworks=$(' ~ postconf ~ ' -h mynetworks) ' ~ entry ~ '"') | json }}
    - unless: {{ (postconf ~ " -h mynetworks | tr ', ' '\\n\\n' | grep -qxF " ~ (entry | quote)) | json }}
{%- endfor %}

by_hand-postfix-reload:
  cmd.run:
    - name: {{ (postfix ~ " reload") | json }}
    - onlyif: {{ (postfix ~ " status") | json }}
    - onchanges:
{%- for address in split.main_gateway_addresses %}
      - cmd: by_hand-mynetworks-{{ address }}
{%- endfor %}

by_hand-private-domain:
  cmd.run:
    - name: {{ (cli ~ " domain add --domain " ~ domain) | json }}
    - unless: {{ (cli ~ " domain list | grep -qxF " ~ domain) | json }}
    - env: {{ env | json }}

by_hand-private-domain-rewriting:
  cmd.run:
    - name: {{ (cli ~ " property domain set --domain " ~ domain ~ " --name revert-rewrite-recipient --value true") | json }}
    - unless: {{ ('test "$(' ~ cli ~ " property domain get --domain " ~ domain ~ ' --name revert-rewrite-recipient)" = true') | json }}
    - env: {{ env | json }}
    - require:
      - cmd: by_hand-private-domain

{%- for name, value in triggers %}

by_hand-{{ name }}:
  cmd.run:
    - name: {{ (cli ~ " property global set --name " ~ name ~ " --value " ~ (value | quote)) | json }}
    - unless: {{ ('test "$(' ~ cli ~ " property global get --name " ~ name ~ ')" = ' ~ (value | quote)) | json }}
    - env: {{ env | json }}
{%- endfor %}
