"""Read a ``group_vars/all`` directory the way Ansible's host_group_vars plugin does.

Files are taken in sorted order of their names, directory by directory
(a sub-directory without an extension is read recursively at its place in
that order). Skipped: names starting with ``.``, names ending with ``~``,
names with an extension other than ``.yml``, ``.yaml`` or ``.json``.
Files WITHOUT an extension are read (as Ansible does; so a temporary file
named like ``tmpab12cd`` in this directory would be read too).

A file that parses to an empty value (empty file, ``{}``, ``~``) is ignored;
any other non-mapping, or a file that is not valid YAML, is an error and
nothing is merged. Later files replace earlier top-level keys (Ansible's
default ``hash_behaviour=replace``).
"""

import os

VALID_EXTENSIONS = (".yml", ".yaml", ".json")


class VarsFileError(Exception):
    """A vars file cannot be used; ``str()`` is an Ansible-like ``ERROR!`` text."""


def find_vars_files(path):
    """Relative names of the files Ansible would read from ``path``, in order."""
    if os.path.isfile(path):
        return [os.path.basename(path)]
    if not os.path.isdir(path):
        return []
    try:
        return _walk(path, "")
    except OSError as exc:
        raise VarsFileError("ERROR! Unable to list vars directory '%s': %s" % (path, exc)) from exc


def _walk(directory, relative):
    found = []
    for entry in sorted(os.listdir(directory)):
        if entry.startswith(".") or entry.endswith("~"):
            continue
        extension = os.path.splitext(entry)[1]
        full = os.path.join(directory, entry)
        if os.path.isdir(full) and not extension:
            found.extend(_walk(full, relative + entry + "/"))
        elif os.path.isfile(full) and (not extension or extension in VALID_EXTENSIONS):
            found.append(relative + entry)
    return found


def load(path):
    """Return (merged vars, names of the files read) for the vars directory ``path``."""
    import yaml  # only cm-run-playbook needs PyYAML

    base = path if os.path.isdir(path) else os.path.dirname(path)
    merged = {}
    names = find_vars_files(path)
    for name in names:
        full = os.path.join(base, name)
        data = _parse(yaml, full)
        if not data:
            continue
        if not isinstance(data, dict):
            raise VarsFileError(
                "ERROR! Invalid vars file '%s': failed to combine variables, "
                "expected dicts but got a 'dict' and a '%s'" % (full, type(data).__name__)
            )
        merged.update(data)
    return _jsonable(merged), names


def _parse(yaml, full):
    try:
        with open(full, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except (OSError, UnicodeDecodeError) as exc:
        raise VarsFileError("ERROR! Unable to read vars file '%s': %s" % (full, exc)) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = ": line %d, column %d" % (mark.line + 1, mark.column + 1) if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise VarsFileError(
            "ERROR! Syntax Error while loading YAML.\n  %s\n\n"
            "The error appears to be in '%s'%s, but may\n"
            "be elsewhere in the file depending on the exact syntax problem." % (problem, full, where)
        ) from exc


def _jsonable(value):
    """``value`` with every key a string and every leaf a JSON type (else str())."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return str(value)
