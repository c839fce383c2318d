"""The markup checker the demo crawl applies to every page finds what it should."""

from __future__ import annotations

from tests.web.html_checks import problems


def test_a_clean_page_has_no_problems() -> None:
    assert problems('<h1>T</h1><label for="q">Q</label><input id="q" name="q">'
                    '<label>Kind <select name="k"></select></label>'
                    '<input type="hidden" name="csrf_token"><button>Go</button>'
                    '<svg role="img" aria-label="chart"></svg><img src="a.png" alt="">') == []


def test_each_kind_of_problem_is_found() -> None:
    found = problems('<h1>A</h1><h1>B</h1><p id="x"></p><p id="x"></p>'
                     '<label for="nowhere">N</label><input name="q"><textarea></textarea>'
                     '<button>  </button><img src="a.png"><svg role="img"></svg>')
    assert found == [
        "duplicate id 'x'", "<label for='nowhere'> names no element",
        "<input name='q'> has no label", "<textarea name=None> has no label",
        "<img src='a.png'> has no alt", "<svg id=None> has no aria-label",
        "a <button> without text", "2 <h1> elements (want 1)",
    ]
