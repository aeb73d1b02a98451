"""``report.html``: one self-contained page, the verdict first, every user text escaped."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import numpy as np
from PIL import Image

from augsweep.tracking.report_html import render

VERDICT = ("Verdict vs the baseline augment=none", ["group", "Δ val", "verdict"],
           [["augment=flip", "+0.05", "better"], ["augment=zoom", "-0.04", "worse"],
            ["augment=crop", "+0.00", "inconclusive"]])  # fmt: skip
GROUPS = ("Per group: mean [95% CI]", ["group", "n"], [["augment=flip", "5"]])
RUNS = (["run", "status", "error"], [["augment=flip,seed=0", "FINISHED", ""]])


class Page(HTMLParser):
    """The headings, paragraphs, table cells (with their class) and images of a page."""

    def __init__(self, text: str):
        super().__init__()
        self.items: list[tuple[str, dict, str]] = []  # (tag, attributes, text)
        self.open = False  # data now belongs to the last element opened
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.items.append((tag, dict(attrs), ""))
        self.open = True

    def handle_endtag(self, tag):
        self.open = False

    def handle_data(self, data):
        if self.open:
            tag, attrs, text = self.items[-1]
            self.items[-1] = (tag, attrs, text + data)

    def texts(self, tag: str) -> list[str]:
        return [text for t, _, text in self.items if t == tag]

    def cells(self) -> dict[str, str | None]:
        return {text: attrs.get("class") for t, attrs, text in self.items if t == "td"}


def png(path, color) -> bytes:
    Image.fromarray(np.full((6, 9, 3), color, dtype=np.uint8)).save(path)
    return path.read_bytes()


def page(**changes) -> str:
    args = dict(title="sweep 12", intro=["Each group's mean over its seeds."],
                tables=[VERDICT, GROUPS], notes=["Only 2 seeds: intervals are wide."],
                figures=[], runs=RUNS, jobs=([], []), command="")  # fmt: skip
    return render(**{**args, **changes})


def test_the_verdict_comes_first_with_its_notes_then_the_rest_in_order():
    parsed = Page(page(command="python train.py -m augment=none,flip", jobs=(["job"], [["1"]])))
    assert parsed.texts("title") == ["sweep 12"] and parsed.texts("h1") == ["sweep 12"]
    assert parsed.texts("h2") == [VERDICT[0], GROUPS[0], "Plots", "Runs", "Jobs", "Command"]
    order = [text for tag, _, text in parsed.items if tag in ("h2", "p")]
    assert order[:3] == [VERDICT[0], "Only 2 seeds: intervals are wide.",
                         "Each group's mean over its seeds."]  # fmt: skip
    notes = [text for tag, attrs, text in parsed.items if attrs.get("class") == "note"]
    assert notes == ["Only 2 seeds: intervals are wide."]
    assert parsed.texts("pre") == ["python train.py -m augment=none,flip"]


def test_better_and_worse_verdicts_are_coloured_and_other_cells_are_not():
    cells = Page(page()).cells()
    assert cells["better"] == "better" and cells["worse"] == "worse"
    assert cells["inconclusive"] is None and cells["augment=flip"] is None


def test_figures_are_embedded_so_the_page_needs_no_other_file(tmp_path):
    red, blue = tmp_path / "forest.png", tmp_path / "accuracy.png"
    data = [png(red, (255, 0, 0)), png(blue, (0, 0, 255))]
    text = page(figures=[red, blue])
    assert not re.search(r"""(src|href)=["'](?!data:)""", text)  # nothing outside the page
    parsed = Page(text)
    images = [attrs for tag, attrs, _ in parsed.items if tag == "img"]
    assert [image["alt"] for image in images] == ["forest", "accuracy"]
    prefix = "data:image/png;base64,"
    assert all(image["src"].startswith(prefix) for image in images)
    assert [base64.b64decode(image["src"][len(prefix) :]) for image in images] == data


def test_every_text_of_the_user_is_escaped():
    hostile = "<script>alert('x')</script> & \"q\""
    text = page(title=hostile, intro=[hostile], notes=[hostile],
                tables=[(hostile, [hostile], [[hostile]]), (hostile, [hostile], [[hostile]])],
                runs=([hostile], [[hostile]]), jobs=([hostile], [[hostile]]),
                command=hostile)  # fmt: skip
    assert "<script>" not in text
    parsed = Page(text)
    assert parsed.texts("h1") == [hostile]  # shown as the user wrote it
    assert parsed.texts("pre") == [hostile]
    assert set(parsed.texts("td")) == {hostile} and set(parsed.texts("th")) == {hostile}


def test_without_jobs_or_command_their_sections_are_left_out_and_an_empty_verdict_has_no_table():
    empty_verdict = (VERDICT[0], VERDICT[1], [])
    parsed = Page(page(tables=[empty_verdict, GROUPS]))
    assert "Jobs" not in parsed.texts("h2") and "Command" not in parsed.texts("h2")
    assert parsed.texts("h2")[0] == VERDICT[0]
    headers = [text for tag, _, text in parsed.items if tag == "th"]
    assert "verdict" not in headers and "n" in headers  # the group table is still there
