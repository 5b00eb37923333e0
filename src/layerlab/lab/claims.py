"""What an experiment returns: ``Claim`` (a claim of the notes with its verdict) and ``Result``.

A claim that does not hold is a *result* (``holds=False`` with the measured figure), not an error.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["Claim", "Result", "FigureRef"]


@dataclasses.dataclass
class Claim:
    """A claim of the notes with its verdict under stated conditions.

    Args:
        id: the claim's number in issue [lab] (``"3"``), with a suffix for a variant (``"7a"``).
        text: the claim, as the notes make it.
        holds: the verdict — ``False`` is a valid, honest result.
        measured: the figure that decided it (``"std of h5: 0.0021 (ratio per layer 0.22)"``).
        conditions: the set-up under which it was measured (data, sizes, η, seeds).
        figure: name of a figure saved with ``ctx.savefig`` that shows it (optional).
    """

    id: str
    text: str
    holds: bool
    measured: str
    conditions: str = ""
    figure: str | None = None

    def __post_init__(self):
        self.id = str(self.id)
        if isinstance(self.holds, (bool, np.bool_)):
            self.holds = bool(self.holds)
        else:
            raise TypeError(f"Claim {self.id!r}: holds must be a bool (the verdict), got {self.holds!r}")
        for attr in ("text", "measured", "conditions"):
            if not isinstance(getattr(self, attr), str):
                raise TypeError(f"Claim {self.id!r}: {attr} must be a str, got {type(getattr(self, attr)).__name__}")

    @property
    def verdict(self) -> str:
        return "holds" if self.holds else "does not hold"

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "verdict": self.verdict}

    @classmethod
    def from_dict(cls, d: Mapping) -> Claim:
        return cls(d["id"], d["text"], d["holds"], d["measured"], d.get("conditions", ""), d.get("figure"))


@dataclasses.dataclass
class Result:
    """What an experiment returns.

    Args:
        claims: the verdicts.
        figures: extra figures to save — ``{name: matplotlib Figure}`` — in addition to those
            saved with ``ctx.savefig`` (which need not be listed here).
        records: a table (list of dicts, one per row) or several (``{title: rows}``), shown in the report.
        notes: a paragraph or a list of paragraphs for the report (plain text).
    """

    claims: list[Claim] = dataclasses.field(default_factory=list)
    figures: Mapping[str, Any] | Sequence[Any] = dataclasses.field(default_factory=dict)
    records: list[dict] | dict[str, list[dict]] = dataclasses.field(default_factory=list)
    notes: str | list[str] = ""


@dataclasses.dataclass
class FigureRef:
    name: str
    path: Path
    caption: str = ""
