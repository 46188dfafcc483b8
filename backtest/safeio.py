"""The one way themebt opens a path the user gave: regular files only, never more than a limit, `~user` checked.

A size from stat() is 0 for devices, pipes and /proc files, so the size alone cannot protect a
reader: a device would be read for ever, a named pipe would block for ever. `read_user_file` looks
at what the path is (through symbolic links) before opening it, opens without blocking, checks the
opened descriptor again (the path may have been swapped in between), and reads at most limit + 1
bytes, so a file that grows while it is read is still refused.

`write_atomic` is the other half: the one way a file themebt may replace (a store's price file, a
sweep's table) is written, whole or not at all.
"""

from __future__ import annotations

import os
import re
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


# A file being replaced is first written to .tmp-<its name>.<8 hex digits> beside it; `themebt clean`
# (backtest.results.folder.clean_temps) knows the pattern, and nothing reads such a file as data.
TEMP_FILE = re.compile(r"\A\.tmp-.+\.[0-9a-f]{8}\Z")


def write_atomic(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """The one way themebt writes a file it may replace: whole or not at all.

    write(tmp) fills a hidden temporary beside path (same folder, so the rename is atomic), locked
    while it is written; it then replaces path in one rename. If write raises, path keeps its
    previous content and the temporary is removed; a killed process leaves only the temporary, which
    `themebt clean` removes (its lock tells a live writer's from a dead one's). Folders of files are
    written by backtest.results.folder.write_folder, on the same principle. OSError propagates: the
    caller says what could not be written and what to do.
    """
    write_atomic_files({path: write})


def write_atomic_files(writes: dict) -> None:
    """write_atomic for files that belong together (a store's prices and their record): every
    temporary is written first, then each replaces its file, so a write that fails changes none."""
    import secrets

    staged: list[tuple[Path, Path, int]] = []
    try:
        for path, write in writes.items():
            path = Path(path)
            tmp = path.with_name(f".tmp-{path.name}.{secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            staged.append((path, tmp, fd))
            try:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX)
            except ImportError:  # pragma: no cover - not POSIX: no lock, `clean` goes by age alone
                pass
            write(str(tmp))
        for path, tmp, _ in staged:
            os.replace(tmp, path)
    except BaseException:
        for _, tmp, _ in staged:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise
    finally:
        for _, _, fd in staged:
            os.close(fd)


def csv_rows(text: str):
    """(line, cells) for each CSV row of text that has a non-blank cell. line is the physical line the
    row starts on (csv counts physical lines, so a quoted field spanning lines still gives its first)."""
    import csv
    import io

    reader = csv.reader(io.StringIO(text, newline=""))
    last = 0
    for row in reader:
        line, last = last + 1, reader.line_num
        if any(cell.strip() for cell in row):
            yield line, row
