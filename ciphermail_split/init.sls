# -*- coding: utf-8 -*-
# vim: ft=sls
{#- Portal split-mode for the role this gateway has in pillar (main | portal). #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata, problems with context %}
{%- from tplroot ~ "/stop.jinja" import refuse with context %}
{%- if problems %}
{{- refuse(problems) }}
{%- else %}

include:
  - .{{ mapdata.role }}
{%- endif %}
