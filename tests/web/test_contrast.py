"""Readable contrast: every text colour in the dashboard's stylesheets against the
background it is declared with (or the page's white) meets WCAG AA, 4.5:1."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "src" / "evcsms" / "web" / "static"
HEX = re.compile(r"#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b")


def luminance(hex_colour: str) -> float:
    digits = hex_colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    channels = [int(digits[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def rules(css: str) -> list[tuple[str, dict[str, str]]]:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    found = []
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        props = {}
        for decl in body.split(";"):
            name, _, value = decl.partition(":")
            if value:
                props[name.strip()] = value.strip()
        found.append((selector.strip(), props))
    return found


def variables() -> dict[str, str]:
    names: dict[str, str] = {}
    for _, props in rules((STATIC / "app.css").read_text()):
        names.update({k: v for k, v in props.items() if k.startswith("--")})
    return names


def resolve(value: str, names: dict[str, str]) -> str | None:
    for _ in range(3):
        ref = re.fullmatch(r"var\((--[\w-]+)\)", value.strip())
        if not ref:
            break
        value = names.get(ref.group(1), "")
    match = HEX.search(value)
    return match.group(0) if match and value.strip().startswith("#") else None


def text_colours() -> list[tuple[str, str, str, str]]:
    names = variables()
    page = resolve(names["--bg"], names) or "#ffffff"
    found = []
    for path in sorted(STATIC.glob("*.css")):
        for selector, props in rules(path.read_text()):
            colour = resolve(props.get("color", ""), names)
            if colour is None:
                continue
            back = props.get("background-color") or props.get("background") or ""
            found.append((path.name, selector, colour, resolve(back, names) or page))
    return found


def test_the_stylesheets_declare_text_colours() -> None:
    assert len(text_colours()) >= 10  # the parser found them (a broken one finds none)
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize(("sheet", "selector", "colour", "background"), text_colours())
def test_text_contrast_meets_wcag_aa(sheet: str, selector: str, colour: str,
                                     background: str) -> None:
    ratio = contrast(colour, background)
    assert ratio >= 4.5, f"{sheet} {selector}: {colour} on {background} is {ratio:.2f}:1"
