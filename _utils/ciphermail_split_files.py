"""
Reading and replacing the text files the formula edits (the transport
table's source, main.cf, the Ansible override file, the ledger), imported as
a plain module by the execution modules.

A file is replaced atomically: the new text goes to a hidden temporary file
in the same directory (Postfix and Ansible skip dot files), is flushed to
disk with its final mode and owner, and is renamed over the old one, so a
reader sees the old file or the new one, never a part. If anything fails
before the rename, the old file is untouched and the temporary file is gone.

The file keeps what the admin gave it: an existing file its mode and owner,
a path that is a symlink its link (the file it points to is the one
replaced, in its own directory). Only a file the formula creates gets the
mode the caller names.
"""

import contextlib
import os
import stat
import tempfile

from salt.exceptions import CommandExecutionError

NEW_FILE_MODE = 0o644


def read_text(path):
    """The text of ``path`` (every byte kept), or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CommandExecutionError(f"Cannot read {path}: {exc}") from exc


def write_text(path, text, new_file_mode=NEW_FILE_MODE):
    """
    Replace the file at ``path`` with ``text`` atomically. An existing file
    keeps its mode and owner; when ``path`` is a symlink, the file it points
    to is replaced and the link stays. A new file gets ``new_file_mode``.
    """
    target = os.path.realpath(path)
    directory, name = os.path.split(target)
    try:
        existing = _stat_or_none(target)
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(text.encode("utf-8", "surrogateescape"))
                stream.flush()
                os.fsync(stream.fileno())
            _keep_or_set_mode(temporary, existing, new_file_mode)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _sync_directory(directory)
    except OSError as exc:
        raise CommandExecutionError(f"Cannot write {path}: {exc}") from exc


def directory_problem(path, what):
    """
    Why ``path`` cannot serve as a directory the formula writes to (it is a
    file, or it is missing and cannot be made there), or None when it can.
    """
    probe = path
    while not os.path.lexists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        return f"{what} {path} cannot be used: {probe} is not a directory"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{what} {path} cannot be used: {probe} is not writable"
    return None


def _stat_or_none(path):
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def _keep_or_set_mode(temporary, existing, new_file_mode):
    if existing is None:
        os.chmod(temporary, new_file_mode)
        return
    if (existing.st_uid, existing.st_gid) != (os.getuid(), os.getgid()):
        os.chown(temporary, existing.st_uid, existing.st_gid)
    os.chmod(temporary, stat.S_IMODE(existing.st_mode))


def _sync_directory(directory):
    handle = os.open(directory or ".", os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
