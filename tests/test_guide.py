"""docs/guide.md is executed: every ``>>>`` example runs and must print what the page shows.

The page's fenced ``python`` blocks are joined, in order, into one doctest that
shares its namespace (later sections reuse names defined earlier), and run with
NORMALIZE_WHITESPACE and ELLIPSIS. The page must answer the notes' nine questions,
one numbered section each, every section with at least one executed example.
"""

from __future__ import annotations

import doctest
import re
import warnings
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide.md"
FENCE = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)


def _sections(text: str) -> dict[int, str]:
    parts = re.split(r"^## (\d)\. ", text, flags=re.M)
    return {int(parts[i]): parts[i + 1] for i in range(1, len(parts), 2)}


def test_nine_sections_each_with_examples():
    text = GUIDE.read_text(encoding="utf-8")
    secs = _sections(text)
    assert sorted(secs) == list(range(1, 10))
    for k, body in secs.items():
        blocks = FENCE.findall(body)
        assert blocks, f"section {k} has no example"
        assert any(">>> " in b for b in blocks), f"section {k} has no executed example"
        shown = [
            ln
            for b in blocks
            for ln in b.splitlines()
            if ln.strip() and not ln.startswith((">>>", "..."))
        ]
        assert shown, f"section {k} shows no output"


def test_every_block_is_a_doctest():
    """No code block escapes execution: each python block is a doctest transcript."""
    text = GUIDE.read_text(encoding="utf-8")
    for block in FENCE.findall(text):
        assert block.lstrip().startswith(">>> "), block[:80]
    assert "```py\n" not in text and "```pycon" not in text


def test_guide_examples_print_what_the_page_shows():
    text = GUIDE.read_text(encoding="utf-8")
    source = "\n".join(FENCE.findall(text))
    parser = doctest.DocTestParser()
    test = parser.get_doctest(source, {"__name__": "guide"}, "docs/guide.md", str(GUIDE), 0)
    assert len(test.examples) > 50
    runner = doctest.DocTestRunner(
        optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False
    )
    report: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the page must run clean: no warning hidden in it
        runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)


def test_section2_answers_the_three_questions_in_words():
    """The notes' questions on the exponents are answered in words, not only by numbers: what
    pushes q towards 1, what the two binary factors do together, and what "only the correct
    class matters" leaves out (the gradient every logit gets through the softmax)."""
    sec = _sections(GUIDE.read_text(encoding="utf-8"))[2]
    heads = re.findall(r"^### (.+)$", sec, flags=re.M)
    assert heads == [
        "Are higher probabilities raised to higher powers encouraged?",
        "What does multiplying both classes' terms induce?",
        '"Only the correct class matters" — for the value, not for the gradient',
    ]
    for phrase in (
        "a switch that says *which* factor enters",
        "`∂ℓ_i/∂z_ic = q_ic − y_ic`",
        "**up on the positives and down on the\nnegatives**",
        "`p − y`",
        "grows without limit",
        "every logit\nstill gets the gradient `q_c − y_c`",
    ):
        assert phrase in sec, phrase
    blocks = FENCE.findall(sec)
    assert any("cross_entropy_grad" in b for b in blocks)  # the numbers come from the library
    assert any("binary_cross_entropy_grad" in b for b in blocks)
