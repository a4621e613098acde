"""The fast parse of auditor's own HTML (auditor.report.html_tree) builds exactly the tree
WeasyPrint's HTML5 parser (tinyhtml5) builds, or declines: on real reports and letters,
on documents that need HTML5's error recovery, and on random well-formed documents."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import tinyhtml5
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import Markup, escape

from auditor.letters.render import wrap
from auditor.report import render_html
from auditor.report.fetcher import DataOnlyFetcher
from auditor.report.html_tree import parse_simple_html, weasyprint_html
from tests.factories import make_result

Node = tuple[Any, dict[str, str], str | None, str | None]


def _nodes(root: ET.Element) -> list[Node]:
    return [
        (
            e.tag if isinstance(e.tag, str) else ("comment", e.text),
            dict(e.attrib),
            e.text if isinstance(e.tag, str) else None,
            e.tail,
        )
        for e in root.iter()
    ]


def _same_as_html5(html: str) -> bool:
    """Whether the fast parse accepted ``html``; asserts its tree is tinyhtml5's."""
    fast = parse_simple_html(html)
    if fast is None:
        return False
    assert _nodes(fast) == _nodes(tinyhtml5.parse(html, namespace_html_elements=False))
    return True


def _doc(body: str, head: str = "<title>t</title>") -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n{head}\n</head>\n'
        f"<body>\n{body}\n</body>\n</html>\n"
    )


# --- real documents --------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["full", "aaa"])
def test_reports_with_hostile_strings_parse_to_the_html5_tree(preset: str) -> None:
    script = "<script>alert('x')</script> & <b>bold</b> &amp; \u00a0é"
    base = make_result()
    result = dataclasses.replace(
        base,
        name="hostile",
        warnings=(*base.warnings, script, "a < b > c & d"),
        spec={**base.spec, "evidence": {"note": script}},
    )
    html = render_html(result, preset=preset)
    assert _same_as_html5(html), "auditor's report HTML should take the fast parse"


def test_letters_parse_to_the_html5_tree() -> None:
    body = Markup(
        '<article class="letter" id="letter-0">'
        f'<p>Dear <span class="u">{escape("Zoë <O’Brien> & Co")}</span>,</p>'
        "<table><tr><th>Reason</th><td>Income</td></tr></table>"
        "</article>"
    )
    assert _same_as_html5(wrap([body, body], "Letters"))


def test_the_document_weasyprint_gets_is_the_one_it_would_parse() -> None:
    """Same attributes as ``weasyprint.HTML(string=...)``: a WeasyPrint that keeps more
    state on its document object would break the hand-made one, so this test notices."""
    import weasyprint

    html = _doc("<p>x</p>")
    fast = weasyprint_html(html, DataOnlyFetcher())
    plain = weasyprint.HTML(string=html, base_url=None, url_fetcher=DataOnlyFetcher())
    assert set(vars(fast)) == set(vars(plain))
    assert fast.base_url == plain.base_url
    assert fast.media_type == plain.media_type
    assert fast.write_pdf() == plain.write_pdf()


# --- what the fast parse supplies or declines ------------------------------------------------

ACCEPTED = {
    "rows without tbody": "<table>\n <tr><td>a</td></tr>\n <tr><td>b</td></tr>\n</table>",
    "thead then implied tbody": (
        "<table><thead><tr><th>h</th></tr></thead><tr><td>a</td></tr></table>"
    ),
    "implied tbody then tfoot": (
        "<table><tr><td>a</td></tr><tfoot><tr><td>f</td></tr></tfoot></table>"
    ),
    "entities and attributes": '<p title="a &amp; b &lt;c&gt; &#39;q&#39;">x &nbsp; &#x263A; é</p>',
    "repeated attribute keeps the first": '<p class="a" class="b">x</p>',
    "comment in body": "<div><!-- note --><p>x</p></div>",
    "void elements": '<p>a<br>b<wbr>c<img src="data:,x" alt=""></p><hr>',
    "self-closed void": "<p>a<br/>b</p>",
    "nested lists": "<ul><li>a<ol><li>b</li></ol></li><li>c</li></ul>",
    "table in a cell": (
        "<table><tbody><tr><td><table><tr><td>x</td></tr></table></td></tr></tbody></table>"
    ),
    "caption and colgroup": (
        "<table><caption>c</caption><colgroup><col><col></colgroup>"
        "<tbody><tr><td>x</td></tr></tbody></table>"
    ),
    "style text": "",
}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_well_formed_documents_take_the_fast_parse(case: str) -> None:
    head = "<title>t</title><style>a > b { color: red } p::after { content: '»'; }</style>"
    assert _same_as_html5(_doc(ACCEPTED[case], head=head))


DECLINED = {
    "block in an open p": "<p>a<div>b</div></p>",
    "table in an open p": "<p>a<table><tbody><tr><td>x</td></tr></tbody></table></p>",
    "list item in an open list item": "<ul><li>a<li>b</li></ul>",
    "list item behind a div": "<ul><li><div><li>x</li></div></li></ul>",
    "misnested inline": "<p><b><i>x</b></i></p>",
    "unclosed element": "<div><span>x</div>",
    "stray end tag": "<div>x</div></span>",
    "end p without p": "<div></p></div>",
    "link in a link": '<a href="#a">x<a href="#b">y</a></a>',
    "heading in a heading": "<h2>a<h3>b</h3></h2>",
    "cell outside a row": "<table><tbody><td>x</td></tbody></table>",
    "text in a table": "<table>oops<tbody><tr><td>x</td></tr></tbody></table>",
    "div in a table": "<table><div>x</div></table>",
    "col outside colgroup": "<table><col><tbody><tr><td>x</td></tr></tbody></table>",
    "pre": "<pre>\nx</pre>",
    "inline svg": '<svg viewBox="0 0 1 1"><rect width="1" height="1"/></svg>',
    "form control": "<p><input value=x></p>",
    "script": "<script>var a = 1;</script>",
    "bare ampersand": "<p>AT&T</p>",
    "carriage return": "<p>a\r\nb</p>",
    "self-closed div": "<div/>",
    "end tag of a void element": "<p>a</br></p>",
    "unescaped lt": "<p>a < b</p>",
}


@pytest.mark.parametrize("case", sorted(DECLINED))
def test_documents_needing_html5_recovery_are_left_to_the_full_parser(case: str) -> None:
    assert parse_simple_html(_doc(DECLINED[case])) is None


@pytest.mark.parametrize(
    "html",
    [
        "<p>no document structure</p>",
        "<html><body><p>x</p></body></html>",  # no head
        _doc("<p>x</p>", head="<title>t</title><base href='http://x/'>"),
        _doc("<p>x</p>", head="<title>t</title><link rel=stylesheet href='a.css'>"),
        _doc("<p>x</p>").replace("</body>", "</body><p>after</p>"),
        "<!-- before -->" + _doc("<p>x</p>"),
    ],
)
def test_documents_outside_the_simple_shape_are_declined(html: str) -> None:
    assert parse_simple_html(html) is None


# --- random documents ------------------------------------------------------------------------

_CHARS = st.sampled_from(list("ab é&<>'\"\n\t\u00a0"))
_TEXT = st.text(alphabet=_CHARS, min_size=0, max_size=6).map(lambda s: str(escape(s)))
_INLINE = ("span", "strong", "em", "a", "code", "small")
_BLOCK = ("div", "p", "section", "h2", "ul", "ol", "table", "figure")


def _inline(draw: Any, depth: int) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["text", "inline", "br"] if depth < 3 else ["text", "br"]))
        if kind == "text":
            parts.append(draw(_TEXT))
        elif kind == "br":
            parts.append("<br>")
        else:
            tag = draw(st.sampled_from(_INLINE))
            attr = draw(st.sampled_from(["", ' class="x"', ' title="a &amp; b"']))
            parts.append(f"<{tag}{attr}>{_inline(draw, depth + 1)}</{tag}>")
    return "".join(parts)


def _block(draw: Any, depth: int) -> str:
    tag = draw(st.sampled_from(_BLOCK if depth < 3 else ("p", "h2")))
    space = draw(st.sampled_from(["", "\n", "\n  "]))
    if tag in ("p", "h2"):
        return f"<{tag}>{_inline(draw, 0)}</{tag}>{space}"
    if tag in ("ul", "ol"):
        items = "".join(
            f"{space}<li>{_inline(draw, 0)}{_block(draw, depth + 1) if draw(st.booleans()) else ''}"
            "</li>"
            for _ in range(draw(st.integers(0, 3)))
        )
        return f"<{tag}>{items}{space}</{tag}>{space}"
    if tag == "table":
        rows = "".join(
            f"{space}<tr>"
            + "".join(f"<td>{_inline(draw, 0)}</td>" for _ in range(draw(st.integers(1, 3))))
            + "</tr>"
            for _ in range(draw(st.integers(1, 3)))
        )
        body = rows if draw(st.booleans()) else f"<tbody>{rows}</tbody>"
        head = "<thead><tr><th>h</th></tr></thead>" if draw(st.booleans()) else ""
        return f"<table>{head}{body}{space}</table>{space}"
    children = "".join(_block(draw, depth + 1) for _ in range(draw(st.integers(0, 3))))
    return f"<{tag}>{space}{_inline(draw, 0)}{children}</{tag}>{space}"


@st.composite
def _documents(draw: Any) -> str:
    body = "".join(_block(draw, 0) for _ in range(draw(st.integers(0, 4))))
    # sometimes break the document the way hand-written HTML breaks
    flaw = draw(st.sampled_from(["", "", "", "<p>open", "</div>", "<div><p>a<div>b</div>"]))
    return _doc(body + flaw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_documents())
def test_random_documents_parse_to_the_html5_tree_or_are_declined(html: str) -> None:
    _same_as_html5(html)
