"""Writing files safely: atomic writes that leave no temporary behind, and folder locks.

The library writes every file it produces (models, tables, reports, plots) through
:func:`atomic_write_bytes`; a study holds a :class:`FolderLock` on its output folder.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import socket
import time
from pathlib import Path
from types import TracebackType

from . import validate
from .errors import StudyError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["FolderLock", "atomic_write_bytes", "output_folder", "pid_alive"]


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: readers see the old file or the new one, never
    a part of it.

    The data goes to a temporary file in the same folder, fsync'd, then renamed over
    ``path``. A process killed mid-write (``kill -9``, a power cut) must not leave that
    temporary behind either. On Linux it is created with ``O_TMPFILE``: it has no name while
    it is written (the kernel frees it if the process dies) and is linked in under a name
    only once complete, just before the rename. Elsewhere (and on file systems without
    ``O_TMPFILE``) it is named from the start. Either way its name carries the writer's pid,
    ``.NAME.PID.RANDOM.tmp``, and every save first deletes the siblings left by processes
    that no longer run, so at most the rare kill between link and rename leaves one, until
    the next save of that file.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(path)
        _write_via(path, tmp, data)
    # named for the file asked for, not the temporary one or a folder on the way
    except FileExistsError as exc:  # a file stands where a folder of the path should be
        msg = (f"cannot write there: {str(exc.filename)!r} is a file, not a folder (choose "
               "another path)")
        raise NotADirectoryError(errno.ENOTDIR, msg, str(path)) from exc
    except PermissionError as exc:
        msg = (f"cannot write there: permission denied on {str(exc.filename)!r} (choose a "
               "folder this user can write to)")
        raise PermissionError(errno.EACCES, msg, str(path)) from exc
    except OSError as exc:
        if exc.errno is None or exc.filename != str(tmp):  # not the temporary: as it is
            raise
        msg = (f"cannot write there: {exc.strerror} in {str(path.parent)!r} (choose another "
               "folder)")
        raise type(exc)(exc.errno, msg, str(path)) from exc


def output_folder(name: str, path: object) -> Path:
    """``path`` as the :class:`~pathlib.Path` of a folder to write into, refused before
    anything is written when it cannot be one: not a path, empty, an existing file, or
    under a file. A folder that does not exist yet is fine (it is created when written).

    >>> str(output_folder("out", "results"))
    'results'
    """
    if not isinstance(path, (str, os.PathLike)):
        msg = (f"{name} must be a folder's path (a str or a pathlib.Path), got "
               f"{validate.describe(path)}; e.g. {name}='results'.")
        raise TypeError(msg)
    if str(path).strip() == "":  # Path("") would be the current folder
        msg = f"{name} must be a folder's path, got an empty one; e.g. {name}='results'."
        raise ValueError(msg)
    folder = Path(path)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        where = ("is a file, not a folder" if existing == folder else
                 f"is under {str(existing)!r}, which is a file, not a folder")
        msg = (f"{name} must be a folder to write into, but {str(folder)!r} {where}; give a "
               f"folder, e.g. {name}={str(existing.parent / 'results')!r}.")
        raise ValueError(msg)
    return folder


def _write_via(path: Path, tmp: Path, data: bytes) -> None:
    """Write ``data`` to the temporary ``tmp`` (unnamed while written, where possible) and
    rename it over ``path``."""
    fd = _unnamed_file(path.parent)
    try:
        if fd is not None:
            _write_all(fd, data)
            try:
                # link the complete file in (linkat through /proc follows the fd)
                os.link(f"/proc/self/fd/{fd}", tmp, follow_symlinks=True)
            except OSError:
                os.close(fd)
                fd = None  # no /proc: write it again, named
        if fd is None:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            _write_all(fd, data)
        os.close(fd)
        fd = None
        os.replace(tmp, path)
    except BaseException:
        if fd is not None:
            os.close(fd)
        tmp.unlink(missing_ok=True)
        raise


def _unnamed_file(folder: Path) -> int | None:
    """A writable file without a name in ``folder`` (Linux's ``O_TMPFILE``), or None."""
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag:
        return None
    try:
        return os.open(folder, flag | os.O_WRONLY, 0o666)
    except OSError:  # a file system (or an old kernel) without it
        return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)


def _remove_stale_temporaries(path: Path) -> None:
    """Delete ``.NAME.PID.*.tmp`` siblings of ``path`` whose writer no longer runs."""
    prefix = f".{path.name}."
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return
    for sibling in siblings:
        name = sibling.name
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid = name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            sibling.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (True when it cannot be told)."""
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return True  # os.kill(pid, 0) would terminate it on Windows: never guess there
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


class FolderLock:
    """An exclusive lock on ``folder``, held by one process while it writes there.

    The lock is ``folder/.xpnet-lock``, holding the holder's pid, host and start time. On
    POSIX it is an ``flock`` on that file: the kernel releases it when the holder dies, even
    by ``kill -9``, so a lock left by a dead process is simply taken over (:attr:`note` says
    so). Elsewhere the file's existence is the lock, and a holder that no longer runs is
    detected by its pid.

    Raises
    ------
    StudyError
        When another live process holds the lock (the message names its pid and start).
    """

    NAME = ".xpnet-lock"

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)
        self.path = self.folder / self.NAME
        self.note: str | None = None  # "took over the lock of ..." when a holder had died
        self._fd: int | None = None

    def __enter__(self) -> FolderLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        if fcntl is not None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._busy(self._holder()) from None
        else:
            holder = self._holder()
            if holder and pid_alive(int(holder.get("pid", -1))):
                raise self._busy(holder)
            self.path.unlink(missing_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        previous = self._holder()
        if previous:
            self.note = (f"took over the lock on {str(self.folder)!r} left by pid "
                         f"{previous.get('pid')} (started {previous.get('started')}), which "
                         "no longer runs.")
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(me).encode())
        self._fd = fd
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is None:
            return
        # empty (not deleted, which would race with a process opening it): free again
        os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing releases the flock
        self._fd = None
        if fcntl is None:
            self.path.unlink(missing_ok=True)

    def _holder(self) -> dict:
        try:
            holder = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}
        return holder if isinstance(holder, dict) else {}

    def _busy(self, holder: dict) -> StudyError:
        who = (f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, started "
               f"{holder.get('started', '?')}")
        msg = (f"{str(self.folder)!r} is in use by another xpnet study ({who}). Wait for it "
               "to finish, or write to another folder (--out OTHER_DIR); if no study runs "
               f"there, delete {str(self.path)!r}.")
        return StudyError(msg)
