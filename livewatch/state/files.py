"""Writing inside the data directory without following symbolic links, and with private permissions.

Whoever can plant a link in the data directory (``reports/<id>/findings.csv.tmp`` → ``~/.bashrc``) must not
make livewatch write elsewhere. So every writer goes through this module, which walks from the data
directory's root one folder at a time with ``O_NOFOLLOW`` (a linked folder below the root is refused; the
root itself may be a link, which is the operator's choice), creates temporary files exclusively
(``O_CREAT | O_EXCL | O_NOFOLLOW``) under a random name in the target folder and renames them over the
target (a rename replaces a link, it never writes through it), and opens appended files with
``O_NOFOLLOW``. Reads of files that end up in a report are no-follow too, so a link cannot copy a secret
into a report either.

The data holds personal data (names, birth years, credentials, recordings): by default files are created
0600 and folders 0700 (``private_files = true`` in ``livewatch.toml``); :func:`apply_privacy` also sets the
process umask, so files made by SQLite and ffmpeg follow the same rule.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

from livewatch.errors import StateError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: O_NONBLOCK: a FIFO planted under a file's name must not hang the writer (it is refused below).
_FILE_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
PRIVATE_UMASK = 0o077

_private = True


class LinkRefused(StateError):
    """A path inside the data directory is a symbolic link (or not a plain file/folder) where livewatch writes."""

    def __init__(self, path: Path, what: str = "a symbolic link") -> None:
        self.path = path
        super().__init__(f"refusing to use {path}: it is {what}, and livewatch never follows links or writes "
                         "through special files inside its data directory; remove it and try again")


def apply_privacy(private: bool) -> None:
    """Files 0600 and folders 0700 (``private``), or whatever the umask says; called once per process."""
    global _private  # the umask it mirrors is process-wide too
    _private = private
    if private:
        os.umask(os.umask(PRIVATE_UMASK) | PRIVATE_UMASK)  # keep any stricter bits the operator set


def file_mode() -> int:
    return 0o600 if _private else 0o666


def dir_mode() -> int:
    return 0o700 if _private else 0o777


def _parts(root: Path, path: Path) -> tuple[str, ...]:
    try:
        relative = path.relative_to(root)
    except ValueError:
        try:
            relative = path.absolute().relative_to(root.absolute())
        except ValueError as err:
            raise StateError(f"{path} is not inside the data directory {root}") from err
    parts = relative.parts
    if any(part in ("..", ".", "") for part in parts):
        raise StateError(f"{path} is not a plain path inside the data directory {root}")
    return parts


def _refused(fd: int, name: str, shown: Path, err: OSError) -> Exception:
    """The clear error for an open that failed on a link or a special file; otherwise the error itself."""
    try:
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except OSError:
        return err
    if stat.S_ISLNK(info.st_mode):
        return LinkRefused(shown)
    if err.errno in (errno.ENOTDIR, errno.ELOOP, errno.ENXIO):
        return LinkRefused(shown, "not a plain file or folder")
    return err


def open_folder(root: Path, folder: Path, *, create: bool = True) -> int:
    """A file descriptor of ``folder`` (inside ``root``), reached without following links; created (0700
    when private) when missing and ``create``. The caller closes it."""
    parts = _parts(root, folder)
    if create:
        root.mkdir(parents=True, exist_ok=True, mode=dir_mode())
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for index, name in enumerate(parts):
            shown = root.joinpath(*parts[: index + 1])
            try:
                inner = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):  # made meanwhile by another thread: checked below
                    os.mkdir(name, dir_mode(), dir_fd=fd)
                try:
                    inner = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError as err:
                    raise _refused(fd, name, shown, err) from err
            except OSError as err:
                raise _refused(fd, name, shown, err) from err
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def _cannot(action: str, path: Path, err: OSError) -> StateError:
    return StateError(f"cannot {action} {path}: {err.strerror or err}")


def make_folder(root: Path, folder: Path) -> Path:
    try:
        os.close(open_folder(root, folder))
    except OSError as err:
        raise _cannot("create", folder, err) from err
    return folder


def write_whole(root: Path, path: Path, content: str | bytes) -> Path:
    """Replace ``path`` with ``content`` at once: a reader sees the old file or the new one, never half,
    and nothing is written through a link."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        _write_whole(root, path, data)
    except OSError as err:
        raise _cannot("write", path, err) from err
    return path


def _write_whole(root: Path, path: Path, data: bytes) -> None:
    fd = open_folder(root, path.parent)
    temporary = f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _FILE_FLAGS, file_mode(), dir_fd=fd)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path.name, src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException:
            os.unlink(temporary, dir_fd=fd)
            raise
    finally:
        os.close(fd)


def append(root: Path, path: Path, content: bytes) -> Path:
    """Append ``content`` to ``path`` (created when missing); never through a link or into a FIFO."""
    try:
        _append(root, path, content)
    except OSError as err:
        raise _cannot("append to", path, err) from err
    return path


def _append(root: Path, path: Path, content: bytes) -> None:
    fd = open_folder(root, path.parent)
    try:
        try:
            handle = os.open(path.name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _FILE_FLAGS, file_mode(), dir_fd=fd)
        except OSError as err:
            raise _refused(fd, path.name, path, err) from err
        with os.fdopen(handle, "ab") as out:
            if not stat.S_ISREG(os.fstat(out.fileno()).st_mode):
                raise LinkRefused(path, "not a plain file")
            out.write(content)
    finally:
        os.close(fd)


def read_bytes(root: Path, path: Path) -> bytes | None:
    """The content of ``path`` (None when it or its folder does not exist); a link is refused."""
    try:
        return _read_bytes(root, path)
    except OSError as err:
        raise _cannot("read", path, err) from err


def _read_bytes(root: Path, path: Path) -> bytes | None:
    try:
        fd = open_folder(root, path.parent, create=False)
    except FileNotFoundError:
        return None
    try:
        try:
            handle = os.open(path.name, os.O_RDONLY | _FILE_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise _refused(fd, path.name, path, err) from err
        with os.fdopen(handle, "rb") as source:
            if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
                raise LinkRefused(path, "not a plain file")
            return source.read()
    finally:
        os.close(fd)


def copy_file(root: Path, source: Path, target: Path) -> bool:
    """Copy ``source`` over ``target``, both inside ``root``; False when there is no source."""
    data = read_bytes(root, source)
    if data is None:
        return False
    write_whole(root, target, data)
    return True


def is_plain_file(path: Path) -> bool:
    """A regular file that is not a link (``Path.is_file`` follows links)."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False
