"""
Ansible vars files as the formula reads and edits them, in pure Python (no
Salt loader, no I/O): parsing a vars file, which files of a group_vars
directory Ansible reads and in what order, and editing top-level keys of the
formula's override file in place, so every other line (other keys,
comments) stays as the admin wrote it.

Imported as a plain module by ``_modules/ciphermail_ansible.py``.
"""

import os
import re

import yaml
from salt.exceptions import CommandExecutionError

#: What Ansible loads from a group_vars directory ("" = no extension).
VARS_EXTENSIONS = ("", ".yml", ".yaml", ".json")
OVERRIDE_HEADER = (
    "---\n"
    "# Managed by Salt (ciphermail_split formula): portal split-mode.\n"
    "# Other keys in this file are kept; keys Salt manages are edited in place.\n"
)


def parse(text, path):
    """The variables of a vars file's ``text`` (``{}`` for an empty file); ``path`` names it in errors."""
    try:
        data = yaml.safe_load(text) if text else None
    except yaml.YAMLError as exc:
        raise CommandExecutionError(f"{path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CommandExecutionError(f"{path} must hold a YAML mapping of Ansible variables")
    return data


def is_vars_file(name):
    """True when Ansible reads a file called ``name`` in a group_vars directory (not hidden, not a backup)."""
    return not name.startswith(".") and not name.endswith("~") and os.path.splitext(name)[1] in VARS_EXTENSIONS


def _render_key(key, value):
    return yaml.safe_dump({key: value}, default_flow_style=False)


def _top_level_entry(lines, key):
    """(first, end) line indexes of ``key``'s top-level block entry (the key plain or quoted), or None."""
    spelled = "|".join(re.escape(form) for form in (key, f'"{key}"', f"'{key}'"))
    pattern = re.compile(rf"^(?:{spelled})\s*:(\s|$)")
    for index, line in enumerate(lines):
        if pattern.match(line):
            end = index + 1
            while end < len(lines) and _continues_entry(lines[end]):
                end += 1
            while end > index + 1 and not lines[end - 1].strip():
                end -= 1
            return index, end
    return None


def _continues_entry(line):
    # Indented lines, blank lines and a block sequence written at column 0.
    return line[:1] in (" ", "\t") or not line.strip() or line.startswith("- ") or line.rstrip() == "-"


def _inline_comment(line):
    """The comment that ends a one-line ``key: value  # comment`` entry (with the blanks before it), or ""."""
    body = line.rstrip("\r\n")
    for match in re.finditer(r"[ \t]+#", body):
        try:
            if yaml.safe_load(body[: match.start()]) == yaml.safe_load(body):
                return body[match.start() :]
        except yaml.YAMLError:
            continue
    return ""


def _with_comment(rendered, comment):
    """A one-line ``rendered`` entry with the admin's ``comment`` kept at its end."""
    if not comment or len(rendered) != 1:
        return rendered
    return [rendered[0].rstrip("\n") + comment + "\n"]


def edit(text, set_values, remove_keys):
    """
    ``text`` (None: a new file) with the top-level keys ``remove_keys``
    removed and ``set_values`` set in place, or appended; every other line,
    comments too, is kept, and so is a comment at the end of a key's line.
    A key may be written plain or quoted (``"key":``), as YAML allows.
    """
    lines = (text or OVERRIDE_HEADER).splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    for key in remove_keys:
        found = _top_level_entry(lines, key)
        if found:
            del lines[found[0] : found[1]]
    for key, value in set_values.items():
        rendered = _render_key(key, value).splitlines(keepends=True)
        found = _top_level_entry(lines, key)
        if found:
            comment = _inline_comment(lines[found[0]]) if found[1] - found[0] == 1 else ""
            lines[found[0] : found[1]] = _with_comment(rendered, comment)
        else:
            lines.extend(rendered)
    return "".join(lines)
