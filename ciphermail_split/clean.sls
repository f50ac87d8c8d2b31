# -*- coding: utf-8 -*-
# vim: ft=sls
{#- Take portal split-mode back on this gateway, for its role in pillar. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata, problems with context %}
{%- from tplroot ~ "/stop.jinja" import refuse with context %}
{%- if problems %}
{{- refuse(problems) }}
{%- else %}

include:
  - .{{ mapdata.role }}.clean
{%- endif %}
