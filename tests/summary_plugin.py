"""A pytest plugin that counts what the reliability tests tried and prints it at the end.

Test modules register it with ``pytest_plugins = ["summary_plugin"]`` and ask for the
``reliability`` fixture, then tell it what they did:

- ``reliability.case(n)``: n hostile inputs or fault scenarios tried;
- ``reliability.fault(n)``: n faults injected (an outage, a dropped connection, a kill, a
  corrupt object...);
- ``reliability.actions(acknowledged, found)``: actions acknowledged as saved, and how many of
  them a reopened dataset holds. "Actions lost" is the difference, summed over the run;
- ``reliability.timing(name, seconds)``: the slowest time seen under ``name``.

The summary is printed only when some test used the fixture.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

__all__ = ["Recorder"]


@dataclass
class Recorder:
    cases: int = 0
    faults: int = 0
    acknowledged: int = 0
    found: int = 0
    used: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return self.acknowledged - self.found

    def case(self, n: int = 1) -> None:
        self.cases += n

    def fault(self, n: int = 1) -> None:
        self.faults += n

    def actions(self, acknowledged: int, found: int) -> None:
        """Record ``acknowledged`` actions, of which ``found`` were present after a reopen."""
        assert 0 <= found <= acknowledged, (found, acknowledged)
        self.acknowledged += acknowledged
        self.found += found

    def timing(self, name: str, seconds: float) -> None:
        self.timings[name] = max(self.timings.get(name, 0.0), seconds)

    def lines(self) -> list[str]:
        out = [
            f"cases tried: {self.cases}, faults injected: {self.faults}, "
            f"actions acknowledged: {self.acknowledged}, actions lost: {self.lost}"
        ]
        out += [f"slowest {name}: {value:.2f} s" for name, value in sorted(self.timings.items())]
        return out


_RECORDER = Recorder()


@pytest.fixture
def reliability() -> Recorder:
    """The run's counters of cases, faults and actions (see the module docstring)."""
    _RECORDER.used = True
    return _RECORDER


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _RECORDER.used:
        return
    terminalreporter.section("reliability")
    for line in _RECORDER.lines():
        terminalreporter.write_line(line)
