# -*- coding: utf-8 -*-
# vim: ft=sls
{#- Take portal split-mode back on this gateway, for its role in pillar. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata with context %}

include:
  - .{{ mapdata.role }}.clean
