"""Fixed-width text tables for the terminal: the one helper behind every table themebt prints.

A table is a list of columns and a list of rows of cells (strings). Each column says what it holds:
text lines up on the left, numbers on the right, so digits and signs stay in their places. Widths come
from the content (the widest cell or header line), never below a column's `min_width`. A header may
span several lines; shorter headers sit on the bottom line, next to the first row. Trailing spaces are
cut from every line, so a table pasted into a file or compared in a test has no invisible tail.

    >>> print(text_table([Column("ticker"), Column("missing", "number")], [["7203", "0"], ["6954", "12"]]))
    ticker  missing
    7203          0
    6954         12
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

KINDS = ("text", "number")


@dataclass(frozen=True)
class Column:
    """One column: its header (one line, or several lines as a tuple), what it holds, its narrowest width.

    kind: "text" (left-aligned) or "number" (right-aligned, headers too).
    """

    head: str | tuple[str, ...] = ""
    kind: str = "text"
    min_width: int = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"column kind {self.kind!r} is not one of {KINDS}")

    @property
    def head_lines(self) -> tuple[str, ...]:
        return (self.head,) if isinstance(self.head, str) else tuple(self.head)

    def fit(self, cell: str, width: int) -> str:
        return cell.rjust(width) if self.kind == "number" else cell.ljust(width)


def table_lines(columns: Sequence[Column], rows: Iterable[Sequence[str]], gap: str = "  ",
                header: bool = True) -> list[str]:
    """The table's lines (header lines first, unless header=False), each without trailing spaces."""
    body = [tuple(str(cell) for cell in row) for row in rows]
    for row in body:
        if len(row) != len(columns):
            raise ValueError(f"a row has {len(row)} cells for {len(columns)} columns: {row!r}")
    depth = max((len(c.head_lines) for c in columns), default=0) if header else 0
    heads = [("",) * (depth - len(c.head_lines)) + c.head_lines if header else () for c in columns]
    widths = [max([c.min_width, *(len(h) for h in head), *(len(row[i]) for row in body)])
              for i, (c, head) in enumerate(zip(columns, heads))]

    def line(cells: Sequence[str]) -> str:
        return gap.join(c.fit(cell, w) for c, cell, w in zip(columns, cells, widths)).rstrip()

    return [line([head[i] for head in heads]) for i in range(depth)] + [line(row) for row in body]


def text_table(columns: Sequence[Column], rows: Iterable[Sequence[str]], gap: str = "  ",
               header: bool = True) -> str:
    """The table as one string, lines joined by newlines (no newline at the end)."""
    return "\n".join(table_lines(columns, rows, gap=gap, header=header))


def frame_table(frame, decimals: int = 4) -> str:
    """A DataFrame as a text table: numeric columns on the right with `decimals` places, the rest on the left.

    A missing number is '-', and a value that rounds to zero reads 0.0000, never -0.0000.
    """
    import math

    import pandas as pd

    def cell(value) -> str:
        if isinstance(value, float):
            return "-" if not math.isfinite(value) else f"{0.0 if round(value, decimals) == 0 else value:.{decimals}f}"
        return "+".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)

    columns = [Column(str(name), "number" if pd.api.types.is_numeric_dtype(frame[name]) and
                      not pd.api.types.is_bool_dtype(frame[name]) else "text") for name in frame.columns]
    return text_table(columns, [[cell(v) for v in row] for row in frame.itertuples(index=False)])
