"""Checks any dashboard page must pass (used by the demo crawl): unique ids, every label
pointing at a control, every form control named by a label or aria-label, images and
SVG charts with a text alternative, buttons with text, one h1."""

from __future__ import annotations

from html.parser import HTMLParser

CONTROLS = {"input", "select", "textarea"}
UNLABELLED_INPUTS = {"hidden", "submit", "button", "reset", "image"}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.label_for: list[str] = []
        self.controls: list[dict[str, str]] = []
        self.wrapped: set[int] = set()  # controls inside a <label>
        self.open_labels = 0
        self.images: list[dict[str, str]] = []
        self.h1 = 0
        self.buttons: list[list[str]] = []
        self.in_button = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "label":
            self.open_labels += 1
            if "for" in a:
                self.label_for.append(a["for"])
        elif tag in CONTROLS:
            if tag == "input" and a.get("type", "text") in UNLABELLED_INPUTS:
                return
            if self.open_labels:
                self.wrapped.add(len(self.controls))
            self.controls.append(dict(a, tag=tag))
        elif tag in ("img", "svg"):
            self.images.append(dict(a, tag=tag))
        elif tag == "h1":
            self.h1 += 1
        elif tag == "button":
            self.in_button = True
            self.buttons.append([a.get("aria-label", "")])

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.open_labels = max(0, self.open_labels - 1)
        elif tag == "button":
            self.in_button = False

    def handle_data(self, data: str) -> None:
        if self.in_button and self.buttons:
            self.buttons[-1].append(data.strip())


def problems(html: str) -> list[str]:
    """What is wrong with the page, in words (an empty list when nothing is)."""
    page = _Page()
    page.feed(html)
    found = []
    seen: set[str] = set()
    for ident in page.ids:
        if ident in seen:
            found.append(f"duplicate id {ident!r}")
        seen.add(ident)
    for target in page.label_for:
        if target not in seen:
            found.append(f"<label for={target!r}> names no element")
    labelled = set(page.label_for)
    for n, control in enumerate(page.controls):
        if not (n in page.wrapped or control.get("id") in labelled
                or control.get("aria-label") or control.get("aria-labelledby")
                or control.get("title")):
            found.append(f"<{control['tag']} name={control.get('name')!r}> has no label")
    for image in page.images:
        if image["tag"] == "img" and "alt" not in image:
            found.append(f"<img src={image.get('src')!r}> has no alt")
        if image["tag"] == "svg" and image.get("role") == "img" and not image.get("aria-label"):
            found.append(f"<svg id={image.get('id')!r}> has no aria-label")
    for texts in page.buttons:
        if not "".join(texts):
            found.append("a <button> without text")
    if page.h1 != 1:
        found.append(f"{page.h1} <h1> elements (want 1)")
    return found
