"""User errors: bad input the user can fix. The scripts print one line ``error: <field>: <problem> (<fix>)``
and exit 2 for these (agents/run/cli.py); any other exception is a bug and shows its traceback (exit 1)."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: ``UserError(field, problem, fix)`` reads ``field: problem (fix)``; a single
    argument is the whole message. Subclasses also derive from the builtin type they replace (ValueError,
    FileNotFoundError, ...) so library callers that catch those keep working."""

    def __init__(self, field_or_message: str, problem: str | None = None, fix: str | None = None) -> None:
        self.field = field_or_message if problem is not None else None
        message = (
            field_or_message if problem is None else f"{field_or_message}: {problem}" + (f" ({fix})" if fix else "")
        )
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder the user named does not exist (or is not what it should be)."""


class NotWritableError(UserError, PermissionError):
    """A folder the user asked to write into cannot be written (permissions, read-only file system)."""


class DiskFullError(UserError, OSError):
    """The disk (or quota) filled up while writing an output; what was written before is intact."""


class RunExistsError(UserError, FileExistsError):
    """A run folder that already holds a run (pick another name or resume it)."""


class RunLockedError(UserError, RuntimeError):
    """Another live process is writing the run folder (it holds the folder's lock)."""


class RunFinished(UserError):
    """``--resume`` of a run that already finished: nothing to do, nothing changed (exit code 0)."""

    exit_code = 0


class EnvironmentSetupError(UserError, RuntimeError):
    """The machine lacks something the input asks for (CUDA, a GPU per rank, an optional package)."""


class BadInputError(UserError, ValueError):
    """An input that exists but cannot be used (a file of the wrong kind, a run without what is asked of it)."""
