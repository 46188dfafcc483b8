"""The one way themebt opens a path the user gave: regular files only, never more than a limit, `~user` checked.

A size from stat() is 0 for devices, pipes and /proc files, so the size alone cannot protect a
reader: a device would be read for ever, a named pipe would block for ever. `read_user_file` looks
at what the path is (through symbolic links) before opening it, opens without blocking, checks the
opened descriptor again (the path may have been swapped in between), and reads at most limit + 1
bytes, so a file that grows while it is read is still refused.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Callable

from backtest.errors import ThemebtError

# What a config, an event file or a credentials file may weigh; price files have their own limit.
SMALL_FILE_BYTES = 10 * 2**20

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def kind_of(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


class FileProblem(Exception):
    """Why a path cannot be read: `problem` is a phrase for an error message, `missing` if it does not exist."""

    def __init__(self, problem: str, missing: bool = False, too_big: bool = False, folder: bool = False):
        super().__init__(problem)
        self.problem, self.missing, self.too_big, self.folder = problem, missing, too_big, folder


def read_user_file(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; FileProblem for anything else.

    Symbolic links are followed; the target must be a regular file too.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileProblem("does not exist", missing=True) from None
    except (OSError, ValueError) as exc:
        raise FileProblem(f"cannot be read ({_reason(exc)})") from None
    if not stat.S_ISREG(info.st_mode):
        raise FileProblem(f"is {kind_of(info.st_mode)}, not a file", folder=stat.S_ISDIR(info.st_mode))
    if info.st_size > limit:
        raise FileProblem(_too_big(info.st_size, limit), too_big=True)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise FileProblem("does not exist", missing=True) from None
    except (OSError, ValueError) as exc:
        raise FileProblem(f"cannot be read ({_reason(exc)})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # swapped for something else after the first look
            raise FileProblem(f"is {kind_of(info.st_mode)}, not a file", folder=stat.S_ISDIR(info.st_mode))
        chunks, got = [], 0
        while got <= limit:
            chunk = os.read(fd, min(limit + 1 - got, 2**20))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    except OSError as exc:
        raise FileProblem(f"cannot be read ({_reason(exc)})") from None
    finally:
        os.close(fd)
    if got > limit:
        raise FileProblem(_too_big(got, limit, grew=True), too_big=True)
    return b"".join(chunks)


def read_user_text(path, limit: int, error: Callable[[str], ThemebtError], encoding: str = "utf-8") -> str:
    """The text of a small user file; every problem, decoding included, becomes error(problem)."""
    try:
        data = read_user_file(path, limit)
    except FileProblem as exc:
        raise error(exc.problem) from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise error(f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


def expand_user(path: str, error: Callable[[str], ThemebtError]) -> Path:
    """Path(path).expanduser(), with an unknown `~user` (or no home folder) as error(problem)."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        head = str(path).split("/", 1)[0]
        raise error(f"{head!r}: no such user's home folder") from None


def _too_big(size: int, limit: int, grew: bool = False) -> str:
    more = "more than " if grew else ""
    return f"is {more}{_amount(size)}, above the {_amount(limit)} limit for this kind of file"


def _amount(n: int) -> str:
    return f"{n / 2**20:,.1f} MB" if n >= 2**20 else f"{n:,} bytes"


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or type(exc).__name__


def read_head(path: str | os.PathLike, size: int = 65536) -> bytes:
    """The first `size` bytes of a regular file (for sniffing a header); FileProblem for anything else."""
    try:
        info = os.stat(path)
    except (OSError, ValueError) as exc:
        raise FileProblem(f"cannot be read ({_reason(exc)})", missing=isinstance(exc, FileNotFoundError)) from None
    if not stat.S_ISREG(info.st_mode):
        raise FileProblem(f"is {kind_of(info.st_mode)}, not a file", folder=stat.S_ISDIR(info.st_mode))
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except (OSError, ValueError) as exc:
        raise FileProblem(f"cannot be read ({_reason(exc)})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileProblem("is not a file")
        return os.read(fd, size)
    except OSError as exc:
        raise FileProblem(f"cannot be read ({_reason(exc)})") from None
    finally:
        os.close(fd)
