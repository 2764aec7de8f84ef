"""What a sandboxed candidate may use, and what running it produced.

Covers the ``Limits`` a job runs under (with their defaults and checks) and
the result types ``Outcome`` and ``CandidateResult``. Does not cover how the
limits are enforced (see ``runner`` and ``supervisor``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

STATUSES = ("pass", "fail", "error", "timeout", "crash")
LOAD_STATUSES = ("ok", "error", "timeout", "crash")


@dataclass
class Limits:
    """Per-candidate limits. Times are wall-clock seconds enforced from outside the candidate."""

    timeout: float = 5.0  # per test
    memory_mb: int = 2048  # address space of each candidate/test process (RLIMIT_AS)
    max_output: int = 8192  # bytes of stdout+stderr kept per candidate; the rest is read and dropped
    load_timeout: float | None = None  # running the candidate's own code; None: the same as timeout
    max_processes: int = 64  # processes of the candidate at once (RLIMIT_NPROC, where a uid is its own)
    max_file_mb: int = 64  # largest file it may write (RLIMIT_FSIZE)
    max_open_files: int = 256  # RLIMIT_NOFILE

    def __post_init__(self) -> None:
        positive = {"timeout": self.timeout, "memory_mb": self.memory_mb, "max_processes": self.max_processes,
                    "max_file_mb": self.max_file_mb, "max_open_files": self.max_open_files}
        if self.load_timeout is not None:
            positive["load_timeout"] = self.load_timeout
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"Limits.{name} must be positive, got {value!r}")
        if self.max_output < 0:
            raise ValueError(f"Limits.max_output must not be negative, got {self.max_output!r}")

    def to_wire(self) -> dict:
        """A plain dict for the worker (which never imports this module)."""
        values = asdict(self)
        values["load_timeout"] = float(self.load_timeout if self.load_timeout is not None else self.timeout)
        values["timeout"] = float(self.timeout)
        return values


@dataclass
class Outcome:
    status: str  # "pass" | "fail" | "error" | "timeout" | "crash"
    reason: str | None = None  # e.g. "AssertionError: ...", truncated; for a pass None, or an output probe's digest
    seconds: float = 0.0


@dataclass
class CandidateResult:
    load: str  # "ok" | "error" | "timeout" | "crash"
    load_reason: str | None
    outcomes: list[Outcome]  # one per test, in order
    seconds: float  # wall time of the whole candidate
    load_seconds: float = 0.0
    output: str = ""  # captured stdout+stderr, at most Limits.max_output bytes

    @property
    def statuses(self) -> list[str]:
        return [o.status for o in self.outcomes]
