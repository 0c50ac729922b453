"""Lay the report's blocks out as one self-contained HTML page.

Everything the page needs is inside the file: the figures are PNG data URIs
(``data:image/png;base64,...``), the style sheet is inline, and there is no script and
no external reference, so the page opens offline and can be mailed as one file. Code
blocks with a summary (the config file) fold under ``<details>``, which browsers open
without JavaScript. All text is HTML-escaped before the two paragraph marks
(```code```, ``**bold**``) are turned into tags.
"""

from __future__ import annotations

import base64
import html
import re

from spikebench.report.document import Block, Bullets, Code, Contents, FigureBlock, Heading, Paragraph
from spikebench.report.tables import Table

CSS = """
:root { --ink: #1d2330; --muted: #5b6475; --rule: #d9dee7; --accent: #1f5fa8; --band: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--ink);
  font: 16px/1.55 -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 28px 32px 64px; }
h1 { font-size: 1.9em; margin: 0 0 0.4em; padding-bottom: 0.3em; border-bottom: 3px solid var(--accent); }
h2 { font-size: 1.4em; margin: 1.8em 0 0.5em; padding-bottom: 0.2em; border-bottom: 1px solid var(--rule); }
h3 { font-size: 1.12em; margin: 1.4em 0 0.4em; }
p, li { max-width: 78ch; }
code { font: 0.88em/1.4 "DejaVu Sans Mono", Menlo, Consolas, monospace; background: var(--band);
  padding: 0.1em 0.3em; border-radius: 3px; }
pre { background: var(--band); border: 1px solid var(--rule); border-radius: 6px; padding: 12px 14px;
  overflow-x: auto; }
pre code { background: none; padding: 0; white-space: pre; }
table { border-collapse: collapse; margin: 0.4em 0 0.3em; font-size: 0.9em; }
.table-wrap { overflow-x: auto; margin: 1.2em 0; }
table.wide { font-size: 0.78em; }
table.wide th, table.wide td { padding: 5px 6px; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: 0.4em; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--rule); vertical-align: top; }
th { background: #e9eef6; text-align: left; }
tbody tr:nth-child(even) { background: var(--band); }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
td.r { white-space: nowrap; }
.note { color: var(--muted); font-size: 0.88em; margin: 0.2em 0; }
figure { margin: 1.4em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--rule); border-radius: 4px; }
figcaption { color: var(--muted); font-size: 0.9em; margin-top: 0.4em; }
details { margin: 1em 0; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
nav.toc { background: var(--band); border: 1px solid var(--rule); border-radius: 6px;
  padding: 10px 18px; margin: 1.2em 0; display: inline-block; }
nav.toc ol { margin: 0.3em 0 0; padding-left: 0; list-style: none; columns: 2; column-gap: 3em; }
summary { cursor: pointer; font-weight: 600; }
"""

_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_EM = re.compile(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])")


def inline(text: str) -> str:
    """Escape ``text`` and turn ```code```, ``**bold**`` and ``*emphasis*`` into tags."""
    parts = _CODE.split(text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{html.escape(part)}</code>")
        else:
            s = _BOLD.sub(r"<strong>\1</strong>", html.escape(part))
            out.append(_EM.sub(r"<em>\1</em>", s))
    return "".join(out)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _table(t: Table) -> str:
    cls = [' class="r"' if a == "r" else "" for a in t.align]
    head = "".join(f"<th{c}>{html.escape(col)}</th>" for c, col in zip(cls, t.columns, strict=True))
    body = "".join(
        "<tr>" + "".join(f"<td{c}>{html.escape(cell)}</td>" for c, cell in zip(cls, row, strict=True)) + "</tr>"
        for row in t.rows
    )
    notes = "".join(f'<p class="note">{inline(n)}</p>' for n in t.notes)
    wide = ' class="wide"' if len(t.columns) > 9 else ""  # Table 1: fits the page, no scrolling
    return (
        f'<div class="table-wrap"><table{wide}><caption>{html.escape(t.title)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}</div>"
    )


def render_block(b: Block) -> str:
    if isinstance(b, Heading):
        return f'<h{b.level} id="{_slug(b.text)}">{html.escape(b.text)}</h{b.level}>'
    if isinstance(b, Paragraph):
        return f"<p>{inline(b.text)}</p>"
    if isinstance(b, Bullets):
        return "<ul>" + "".join(f"<li>{inline(i)}</li>" for i in b.items) + "</ul>"
    if isinstance(b, Code):
        pre = f"<pre><code>{html.escape(b.text)}</code></pre>"
        if b.summary:
            return f"<details><summary>{html.escape(b.summary)}</summary>{pre}</details>"
        return pre
    if isinstance(b, FigureBlock):
        data = base64.b64encode(b.png).decode("ascii")
        return (
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(b.alt, quote=True)}">'
            f"<figcaption>{inline(b.caption)}</figcaption></figure>"
        )
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Contents):
        links = "".join(f'<li><a href="#{_slug(t)}">{html.escape(t)}</a></li>' for t in b.titles)
        return f'<nav class="toc"><strong>Contents</strong><ol>{links}</ol></nav>'
    raise TypeError(f"unknown report block {type(b).__name__}")


def render_html(blocks: list[Block]) -> str:
    title = next((b.text for b in blocks if isinstance(b, Heading) and b.level == 1), "spikebench report")
    body = "\n".join(render_block(b) for b in blocks)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
