"""Lay the report's blocks out as GitHub-flavoured Markdown.

Figures are referenced by their path relative to the run directory
(``figures/*.png``), so ``report.md`` reads correctly beside them; tables become pipe
tables. Paragraph marks (```code```, ``**bold**``) are Markdown already.
"""

from __future__ import annotations

import re

from spikebench.report.document import Block, Bullets, Code, Contents, FigureBlock, Heading, Paragraph
from spikebench.report.tables import Table


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(t: Table) -> str:
    head = "| " + " | ".join(_cell(c) for c in t.columns) + " |"
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in t.align) + "|"
    rows = ["| " + " | ".join(_cell(c) for c in row) + " |" for row in t.rows]
    notes = [f"\n{n}\n" for n in t.notes]
    return "\n".join([f"**{t.title}**", "", head, rule, *rows]) + "\n" + "".join(notes)


def _fence(text: str) -> str:
    longest = max((len(run) for run in text.split("\n") if set(run) == {"`"}), default=0)
    return "`" * max(3, longest + 1)


def anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def render_block(b: Block) -> str:
    if isinstance(b, Heading):
        return "#" * b.level + " " + b.text
    if isinstance(b, Paragraph):
        return b.text
    if isinstance(b, Bullets):
        return "\n".join(f"- {item}" for item in b.items)
    if isinstance(b, Code):
        fence = _fence(b.text)
        intro = f"{b.summary}:\n\n" if b.summary else ""
        return f"{intro}{fence}{b.language}\n{b.text}\n{fence}"
    if isinstance(b, FigureBlock):
        return f"![{_cell(b.alt)}]({b.filename})\n\n*{b.caption}*"
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Contents):
        return "**Contents:** " + " · ".join(f"[{t}](#{anchor(t)})" for t in b.titles)
    raise TypeError(f"unknown report block {type(b).__name__}")


def render_markdown(blocks: list[Block]) -> str:
    return "\n\n".join(render_block(b).rstrip("\n") for b in blocks) + "\n"
