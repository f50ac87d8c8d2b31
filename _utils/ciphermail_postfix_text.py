"""
Postfix text files, read and edited in pure Python (no Salt loader, no file
or process I/O): the entries of a table source file (``transport``) and the
list parameters of ``main.cf``. Every edit returns the new text and keeps
every byte it does not own: other entries, comments, blank lines,
continuation lines, line endings.

Postfix reads main.cf and table source files as logical lines: a line that
starts with whitespace continues the logical line before it; blank lines and
lines whose first non-blank character is "#" are comments (also between a
logical line and its continuation).

Imported as a plain module by ``_modules/ciphermail_mta.py`` (Salt puts
synced ``_utils`` on the import path of execution and state modules).
"""

import re

import ciphermail_postfix_values

_WHITESPACE = " \t\r\n\v\f"
_LIST_TOKEN = ciphermail_postfix_values.LIST_TOKEN


def _split_lines(text):
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _is_comment(line):
    content = line.strip(_WHITESPACE)
    return not content or content.startswith("#")


def _logical_lines(lines):
    """``[first, last]`` line indexes of every logical line."""
    spans = []
    for index, line in enumerate(lines):
        if _is_comment(line):
            continue
        if line[0] in _WHITESPACE:
            if spans:  # Postfix ignores a continuation before any logical line
                spans[-1][1] = index
            continue
        spans.append([index, index])
    return spans


def _words(lines, first, last):
    return [word for line in lines[first : last + 1] if not _is_comment(line) for word in line.split()]


def _line_ending(line):
    return line[len(line.rstrip("\r\n")) :]


def _end_with_newline(lines):
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"


# -- table source files ------------------------------------------------------------


def table_entries(text):
    """
    The entries of a Postfix table source text as ``(key, value)`` pairs,
    in file order: keys lowercased (postmap folds case), values
    whitespace-collapsed.
    """
    lines = _split_lines(text)
    entries = []
    for first, last in _logical_lines(lines):
        words = _words(lines, first, last)
        entries.append((words[0].lower(), " ".join(words[1:])))
    return entries


def _find_entry(lines, key):
    for first, last in _logical_lines(lines):
        if lines[first].split()[0].lower() == key:
            return first, last
    return None


def table_value(text, key):
    """The value of the first entry for ``key`` (the one postmap uses), or None."""
    return dict(reversed(table_entries(text))).get(key.lower())


def set_table_entry(text, key, value):
    """
    ``text`` with the first entry for ``key`` replaced in place by
    ``key value`` (the key and separator as written), or with the entry
    appended as a new last line.
    """
    lines = _split_lines(text)
    found = _find_entry(lines, key.lower())
    if found is None:
        _end_with_newline(lines)
        lines.append(f"{key} {value}\n")
    else:
        first, last = found
        written = re.match(r"\S+[ \t]+", lines[first])
        start = written.group(0) if written else f"{lines[first].split()[0]} "
        lines[first : last + 1] = [start + value + _line_ending(lines[last])]
    return "".join(lines)


def delete_table_entry(text, key):
    """``text`` without the first entry for ``key`` (its line and continuation lines)."""
    lines = _split_lines(text)
    found = _find_entry(lines, key.lower())
    if found is not None:
        del lines[found[0] : found[1] + 1]
    return "".join(lines)


# -- main.cf parameters --------------------------------------------------------------


def _definitions(lines, parameter):
    """``(first, last, value_start)`` of every definition of ``parameter``; the last one is in effect."""
    pattern = re.compile(rf"{re.escape(parameter)}[ \t]*=")
    found = []
    for first, last in _logical_lines(lines):
        match = pattern.match(lines[first])
        if match:
            found.append((first, last, match.end()))
    return found


def _definition(text, parameter):
    """The lines of main.cf ``text`` and the definition of ``parameter`` in effect (None: not set)."""
    lines = _split_lines(text)
    found = _definitions(lines, parameter)
    return lines, found[-1] if found else None


def remove_definitions(text, parameter):
    """main.cf ``text`` without any definition of ``parameter`` (what ``postconf -X`` does)."""
    lines = _split_lines(text)
    for first, last, _ in reversed(_definitions(lines, parameter)):
        del lines[first : last + 1]
    return "".join(lines)


def set_definition(text, parameter, value):
    """
    main.cf ``text`` with ``parameter = value`` (what ``postconf -e`` does):
    each definition of ``parameter`` replaced in place (its continuation
    lines too), or a new last line when main.cf does not set it.
    """
    lines = _split_lines(text)
    found = _definitions(lines, parameter)
    if not found:
        _end_with_newline(lines)
        lines.append(f"{parameter} = {value}\n")
    for first, last, _ in reversed(found):
        ending = _line_ending(lines[last]) or "\n"
        lines[first : last + 1] = [f"{parameter} = {value}{ending}"]
    return "".join(lines)


def _element_rows(lines, definition):
    """``(line_index, [(start, end), ...])`` of the list elements on each line of a definition."""
    first, last, value_start = definition
    rows = []
    for index in range(first, last + 1):
        line = lines[index]
        if index != first and _is_comment(line):
            continue
        start = value_start if index == first else 0
        body = line[: len(line.rstrip("\r\n"))]
        rows.append((index, [(m.start(), m.end()) for m in _LIST_TOKEN.finditer(body, start)]))
    return rows


def parameter_elements(text, parameter):
    """
    The list elements of ``parameter`` as main.cf text defines it (its last
    definition), or None when main.cf does not set it.
    """
    lines, definition = _definition(text, parameter)
    if definition is None:
        return None
    return [lines[index][start:end] for index, spans in _element_rows(lines, definition) for start, end in spans]


def parameter_value(text, parameter):
    """
    The value of ``parameter`` as main.cf text sets it (continuation lines
    joined, whitespace collapsed), or None when it is not set.
    """
    lines, definition = _definition(text, parameter)
    if definition is None:
        return None
    first, last, value_start = definition
    parts = [lines[first][value_start:]] + [line for line in lines[first + 1 : last + 1] if not _is_comment(line)]
    return " ".join(" ".join(parts).split())


def _separator(lines, rows):
    """
    The separator the admin's list uses, from its last two elements: a comma
    (``", "``, or ``","`` when they wrote none of the space) or whitespace
    (``" "``); ``", "`` when there is only one element.
    """
    spans = [(index, start, end) for index, row in rows for start, end in row]
    if len(spans) < 2:
        return ", "
    (first_line, _, first_end), (last_line, last_start, _) = spans[-2:]
    between = lines[first_line][first_end:last_start] if first_line == last_line else lines[first_line][first_end:]
    if "," not in between:
        return " "
    return "," if between.strip(_WHITESPACE) == between else ", "


def append_list_elements(text, parameter, elements):
    """
    main.cf ``text`` with ``elements`` appended to the definition of
    ``parameter`` (after its last element, separated the way the admin's
    list already is), or with a new ``parameter = elements`` line, separated
    by spaces as ``postconf`` shows a list, when main.cf does not set it.
    """
    lines, definition = _definition(text, parameter)
    if definition is None:
        _end_with_newline(lines)
        lines.append(f"{parameter} = {' '.join(elements)}\n")
        return "".join(lines)
    rows = _element_rows(lines, definition)
    separator = _separator(lines, rows)
    addition = separator.join(elements)
    filled = [row for row in rows if row[1]]
    if filled:
        index, spans = filled[-1]
        end = spans[-1][1]
        lines[index] = f"{lines[index][:end]}{separator}{addition}{lines[index][end:]}"
    else:
        line = lines[definition[0]]
        body = line.rstrip(_WHITESPACE)
        lines[definition[0]] = f"{body} {addition}{line[len(body):]}"
    return "".join(lines)


def remove_list_element(text, parameter, element):
    """
    main.cf ``text`` without the last occurrence of ``element`` in the
    definition of ``parameter``: the element and the separator before it go
    (the one after it when it starts a line), a continuation line left
    without elements is dropped. Unchanged when the element is not there.
    """
    lines, definition = _definition(text, parameter)
    if definition is None:
        return text
    found = [
        (index, spans, position)
        for index, spans in _element_rows(lines, definition)
        for position, (start, end) in enumerate(spans)
        if lines[index][start:end] == element
    ]
    if not found:
        return text
    index, spans, position = found[-1]
    line = lines[index]
    start, end = spans[position]
    if position > 0:
        lines[index] = line[: spans[position - 1][1]] + line[end:]
    elif position + 1 < len(spans):
        lines[index] = line[:start] + line[spans[position + 1][0] :]
    elif index != definition[0]:
        lines[index] = ""
    else:
        lines[index] = line[:start].rstrip(" \t") + line[end:]
    return "".join(lines)


def edit_list(text, parameter, current, add=(), remove=()):
    """
    Plan an edit of the list ``parameter`` in main.cf ``text``; ``current``
    is its elements in effect (Postfix's computed default when main.cf does
    not set it). ``add``: entries appended unless an equivalent element is
    there. ``remove``: the last element written exactly as each entry goes,
    only from main.cf's own definition. When main.cf does not set the
    parameter, ``current`` is written out before the added entries.

    Returns ``{"text", "added", "removed", "materialised", "new"}``: the
    edited text, the entries added and removed, the default written out (or
    None) and the elements in effect afterwards.
    """
    defined = parameter_elements(text, parameter)
    added = [
        entry
        for entry in add
        if not any(ciphermail_postfix_values.same_network(element, entry) for element in current)
    ]
    removed = [entry for entry in remove if defined is not None and entry in defined]
    edited = text
    for entry in removed:
        edited = remove_list_element(edited, parameter, entry)
    materialised = list(current) if defined is None and added else None
    if added:
        edited = append_list_elements(edited, parameter, (materialised or []) + added)
    new = parameter_elements(edited, parameter) if edited != text else list(current)
    return {"text": edited, "added": added, "removed": removed, "materialised": materialised, "new": new}
