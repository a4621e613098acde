"""Reading a file a user names, without hanging and without running out of memory.

``open()`` on a named pipe (FIFO) blocks until some process opens it for writing, which
may never happen; a device such as ``/dev/zero`` has no size and no end. Every small
input the tool reads whole (specs, evidence, policy packs, retention rules, recipients,
attested documents) goes through :func:`read_limited`, which opens without blocking,
reads at most one byte past the limit, and waits for a pipe's writer only as long as
:data:`PIPE_IDLE_SECONDS` pass without data. A pipe is still a legitimate input: shell
process substitution (``--evidence <(generate-evidence)``) hands the tool one.
"""

from __future__ import annotations

import errno
import os
import select
import stat
from pathlib import Path

__all__ = ["PIPE_IDLE_SECONDS", "InputFileError", "read_limited"]

PIPE_IDLE_SECONDS = 30.0
"""Longest wait for the next bytes from a pipe before the read is given up."""

_CHUNK = 1 << 16


class InputFileError(OSError):
    """The path names something that cannot be read as a file (a folder, a socket, a pipe
    nobody writes to, or a non-regular file where only a regular file is accepted)."""

    def __str__(self) -> str:
        return str(self.strerror)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def read_limited(
    path: Path, max_bytes: int, *, regular_only: bool = False, idle_seconds: float | None = None
) -> bytes:
    """The bytes of ``path``, at most ``max_bytes + 1`` of them (the caller compares the
    length with its limit, so a file that grows while read is still caught).

    ``regular_only`` refuses pipes and devices (files found in a folder, such as a policy
    pack's rules, are never legitimately either). Raises :class:`InputFileError` (a
    folder, a socket, a refused kind, a pipe silent for ``idle_seconds``) or ``OSError``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO opened for writing only
            raise InputFileError(exc.errno, "not a readable file (a socket?)") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise InputFileError(errno.EISDIR, "is a folder, not a file")
        if regular_only and not stat.S_ISREG(mode):
            raise InputFileError(errno.EINVAL, f"is {_kind(mode)}; only a regular file is read")
        if stat.S_ISFIFO(mode):
            wait = PIPE_IDLE_SECONDS if idle_seconds is None else idle_seconds
            return _read_pipe(fd, max_bytes, wait)
        os.set_blocking(fd, True)
        parts: list[bytes] = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


def _read_pipe(fd: int, max_bytes: int, idle_seconds: float) -> bytes:
    """Read a pipe opened without blocking until its writers close it, the limit is
    passed, or nothing arrives for ``idle_seconds``."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    parts: list[bytes] = []
    got = 0
    while got <= max_bytes:
        try:
            chunk = os.read(fd, _CHUNK)
        except BlockingIOError:  # a writer is there, with nothing to say yet
            if not poller.poll(idle_seconds * 1000):
                said = "nothing" if got == 0 else "nothing more"
                raise InputFileError(
                    errno.ETIMEDOUT, f"is a pipe that sent {said} for {idle_seconds:g} s"
                ) from None
            continue
        if not chunk:
            if got == 0:
                # a named pipe nobody has opened for writing reads as ended at once
                raise InputFileError(errno.ENODATA, "is a pipe nobody wrote to")
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)
