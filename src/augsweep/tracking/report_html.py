"""``report.html``: the sweep's report as one self-contained page (figures embedded as
base64 PNG, no external asset), which MLflow shows inline among the parent run's artifacts.

Rendering only: :mod:`augsweep.tracking.report_files` computes the tables. Every text is escaped
(run names, errors and overrides are the user's).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

# MLflow 3.17 shows an HTML artifact in a frame about 1,000 px wide (1,006 px in a 1,600 px
# window): the page keeps within MAX_WIDTH_PX, its tables wrap their cells rather than grow.
MAX_WIDTH_PX = 920
STYLE = f"""
body {{ font-family: system-ui, sans-serif; margin: 1em; color: #222;
       max-width: {MAX_WIDTH_PX}px; }}
table {{ border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.85em;
        max-width: 100%; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.4em; text-align: left;
         overflow-wrap: anywhere; }}
th {{ background: #f2f2f2; }}
td:first-child {{ min-width: 7em; }}
td.better {{ background: #d9f2d9; }} td.worse {{ background: #f9d6d5; }}
ul.answers li {{ margin: 0.2em 0; }}
img {{ max-width: 100%; display: block; margin: 0.6em 0; }}
code, pre {{ background: #f6f6f6; padding: 0.2em 0.4em; }}
pre {{ white-space: pre-wrap; overflow-wrap: anywhere; }}
.note {{ background: #fff6dd; padding: 0.4em 0.6em; border-left: 4px solid #e0b400; }}
"""


def render(
    title: str,
    intro: Sequence[str],
    tables: Sequence[tuple[str, Sequence[str], Sequence[Sequence[str]]]],
    notes: Sequence[str],
    figures: Sequence[Path],
    runs: tuple[Sequence[str], Sequence[Sequence[str]]],
    jobs: tuple[Sequence[str], Sequence[Sequence[str]]],
    command: str = "",
    answers: Sequence[str] = (),
) -> str:
    """The page: the answer per group first, then the verdict table, the plots, the runs,
    the jobs, the command.

    Args:
        title: The page's title.
        intro: Sentences on what the tables mean.
        tables: ``(heading, header, rows)`` per summary table, the verdict table first; a
            cell is a text, or ``(text, verdict)`` (coloured after its verdict).
        notes: Sentences the reader must not miss (one seed, no baseline, seeds left out).
        figures: PNG files, embedded in the page.
        runs: The per-run table, ``(header, rows)``.
        jobs: The job table, ``(header, rows)`` (no rows: left out).
        command: The sweep's command line.
        answers: The one-line answer per group, shown first.

    Returns:
        The HTML text.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
    ]
    if answers:
        items = "".join(f"<li>{_e(line)}</li>" for line in answers)
        parts += ["<h2>Answer per group</h2>", f'<ul class="answers">{items}</ul>']
    for heading, header, rows in tables[:1]:
        parts += [f"<h2>{_e(heading)}</h2>", *_notes(notes)] + (
            [_table(header, rows)] if rows else []
        )
    parts += [f"<p>{_e(line)}</p>" for line in intro]
    for heading, header, rows in tables[1:]:
        parts += [f"<h2>{_e(heading)}</h2>", _table(header, rows)]
    parts += ["<h2>Plots</h2>", *(_image(path) for path in figures)]
    parts += ["<h2>Runs</h2>", _table(*runs)]
    if jobs[1]:
        parts += ["<h2>Jobs</h2>", _table(*jobs)]
    if command:
        parts += ["<h2>Command</h2>", f"<pre>{_e(command)}</pre>"]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _notes(notes: Sequence[str]) -> list[str]:
    return [f'<p class="note">{_e(note)}</p>' for note in notes]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An HTML table; a cell that is a verdict (``better``, ``worse``), or a ``(text,
    verdict)``, is coloured."""
    head = "".join(f"<th>{_e(cell)}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(_td(cell) for cell in row) + "</tr>" for row in rows
    )  # fmt: skip
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _td(cell) -> str:
    text, verdict = cell if isinstance(cell, tuple) else (cell, cell)
    kind = f' class="{verdict}"' if verdict in ("better", "worse") else ""
    return f"<td{kind}>{_e(text)}</td>"


def _image(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{_e(Path(path).stem)}" src="data:image/png;base64,{data}">'
