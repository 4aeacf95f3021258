"""The contract between a job kind and the job runner.

A *job kind* is a named function that does one long piece of work (a parameter sweep, an optuna
search, a walk-forward, an AI replay) from JSON-able parameters and returns a JSON-able result.
It reports progress through its :class:`JobContext`, which also tells it when the user cancelled
and lets it store a checkpoint, so a job interrupted by a restart can resume where it stopped
(kinds that cannot resume are marked interrupted instead).

Kinds are found, like the other extension points, without a central list: every module named
``job_kinds`` in a package under ``core`` (``core/<area>/job_kinds.py``) exports
``JOB_KINDS: tuple[JobKind, ...]``; :func:`job_kinds` collects them. Such a module is imported by
every process that lists or submits jobs (and by the jobs worker at rest): it declares its kinds
cheaply and imports the heavy work (numpy, pandas, optuna, the AI context) inside the functions.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import core
from core.errors import PermanentError

if TYPE_CHECKING:
    from core.db.engine import Database

JsonDict = dict[str, Any]


class JobCancelled(PermanentError):
    """Raised inside a job (by ``JobContext.progress``) when the user has cancelled it."""


class UnknownJobKindError(PermanentError, KeyError):
    """A job names a kind that no ``job_kinds`` module declares."""


class JobContext(Protocol):
    """What a running job sees of the runner."""

    @property
    def params(self) -> Mapping[str, Any]:
        """The job's parameters as stored when it was queued."""
        ...

    @property
    def checkpoint_state(self) -> JsonDict | None:
        """The last checkpoint of an earlier, interrupted attempt of this job, or None."""
        ...

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Store progress (``done`` of ``total`` steps); raises :class:`JobCancelled` once the
        user has cancelled the job, so a kind that reports progress stops without more code."""
        ...

    def cancelled(self) -> bool:
        """True once the user asked to cancel the job."""
        ...

    def checkpoint(self, state: JsonDict) -> None:
        """Store a JSON-able state from which a restarted attempt can continue."""
        ...


JobFunction = Callable[[JobContext], JsonDict]
# Checks the parameters at submit (raise ValueError / PermanentError with a clear message), may
# return them normalised (None: keep them as given). Runs in the submitting process: keep it light.
JobValidator = Callable[[Mapping[str, Any]], JsonDict | None]
JobDescriber = Callable[[Mapping[str, Any]], str]


@dataclass(frozen=True)
class JobKind:
    """One kind of job: its name, a title for people, the function, and whether it can resume.

    ``validate`` (optional) checks the parameters when the job is submitted, so a job that cannot
    run is refused before anything is stored; ``describe`` (optional) gives the label the job
    lists show (default: the title).
    """

    name: str
    title: str
    run: JobFunction
    resumable: bool = False
    validate: JobValidator | None = None
    describe: JobDescriber | None = None


def job_kind_modules() -> list[str]:
    """The names of the ``core/<area>/job_kinds.py`` modules, found in the source tree.

    A file scan, not ``pkgutil.walk_packages`` (which imports every package under ``core`` to
    look inside it: 500 modules and 0.6 s of CPU before the first kind is found).
    """
    names: set[str] = set()
    for root in core.__path__:
        for path in Path(root).glob("*/job_kinds.py"):
            if (path.parent / "__init__.py").is_file():
                names.add(f"core.{path.parent.name}.job_kinds")
    return sorted(names)


def job_kinds() -> dict[str, JobKind]:
    """Every job kind declared by a ``core/<area>/job_kinds.py`` module, by name.

    Imports only those modules: a kind's module declares it cheaply and imports its implementation
    (numpy, pandas, the lab...) inside the functions, so listing or submitting jobs stays light.
    """
    found: dict[str, JobKind] = {}
    for module_name in job_kind_modules():
        module = importlib.import_module(module_name)
        for kind in getattr(module, "JOB_KINDS", ()):
            if kind.name in found:
                raise ValueError(f"job kind {kind.name!r} is declared twice")
            found[kind.name] = kind
    return found


def job_kind(name: str) -> JobKind:
    """The job kind called ``name``, or :class:`UnknownJobKindError`."""
    kinds = job_kinds()
    try:
        return kinds[name]
    except KeyError:
        raise UnknownJobKindError(f"unknown job kind {name!r} (known: {', '.join(sorted(kinds)) or 'none'})") from None


def job_database(context: JobContext) -> Database:
    """The database a job reads and writes: the runner's (``context.database``), else the configured one."""
    database = getattr(context, "database", None)
    if database is not None:
        return database
    from core.db.engine import get_database

    return get_database()


# --- services the running process provides to kinds ----------------------------------------------
# A kind in ``core`` cannot import ``workers`` (e.g. the AI replay needs the executor's worker
# loop); the jobs worker provides such objects by name before it runs a job.
_SERVICES: dict[str, Any] = {}


class MissingJobService(PermanentError, LookupError):
    """A kind asked for a service the process that runs it did not provide."""


def provide_job_services(services: Mapping[str, Any]) -> None:
    """Make ``services`` available to job kinds in this process (the jobs worker calls this)."""
    _SERVICES.update(services)


def job_service(name: str) -> Any:
    """The service ``name`` the running process provides, or :class:`MissingJobService`."""
    try:
        return _SERVICES[name]
    except KeyError:
        raise MissingJobService(
            f"this process provides no {name!r} for jobs (run the job with the jobs worker)"
        ) from None
