"""No markdown cell of the course renders text as math by accident (JupyterLab and GitHub both run MathJax).

Two unescaped ``$`` in one cell, outside code, make a ``$...$`` span: "$2.50 on entry, $0.50 per mile" then
shows "2.50 on entry, " in italics with its spaces gone. Dollar amounts are written ``\\$2.50``.
"""

from __future__ import annotations

import json
import re

import pytest

from labhelpers.course.notebooks import NOTEBOOK_DIR, NOTEBOOKS

_FENCED = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
_CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
_DOLLAR = re.compile(r"(?<!\\)\$")


def math_spans(markdown: str) -> list[str]:
    """The text between unescaped ``$`` signs outside code: what MathJax would typeset as math."""
    prose = _CODE_SPAN.sub("", _FENCED.sub("", markdown))
    pieces = _DOLLAR.split(prose)
    return pieces[1:-1:2]


def bare_amounts(markdown: str) -> list[str]:
    """Unescaped dollar amounts outside code: one alone renders, but the next one in its cell pairs up."""
    return re.findall(r"(?<!\\)\$\d[\d.,]*", _CODE_SPAN.sub("", _FENCED.sub("", markdown)))


def test_the_rule_finds_amounts_and_spares_code_and_escapes():
    assert math_spans("the meter: $2.50 on entry, $0.50 per mile") == ["2.50 on entry, "]
    assert math_spans(r"the meter: \$2.50 on entry, \$0.50 per mile") == []
    assert math_spans("set `$LAB_OWNER` or `$HOME`, costs \\$5") == []
    assert math_spans("```bash\necho $A $B\n```\none $ sign alone") == []
    assert bare_amounts("the flat $52 fare, \\$2.50, `$3`") == ["$52"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_markdown_cell_renders_as_math(name):
    cells = json.loads((NOTEBOOK_DIR / name).read_text(encoding="utf-8"))["cells"]
    found = [
        (index, span)
        for index, cell in enumerate(cells)
        if cell["cell_type"] == "markdown"
        for span in math_spans("".join(cell["source"])) + bare_amounts("".join(cell["source"]))
    ]
    assert not found, f"{name}: cell, text shown as math (escape amounts as \\$2.50): {found}"
