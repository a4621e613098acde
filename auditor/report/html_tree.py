"""A fast parse of the HTML auditor writes itself, into the tree WeasyPrint would build.

WeasyPrint parses its input with tinyhtml5, a full HTML5 parser written in Python: for
the full audit report that is about a tenth of the render's CPU time. The report and the
letters are HTML that auditor's own templates write, well formed, every element closed
(user text reaches them escaped). For such a document the HTML5 tree-construction
algorithm reduces to plain nesting, so the standard library's tokenizer
(:class:`html.parser.HTMLParser`, a few regular expressions) can build the same
``xml.etree`` tree at a fraction of the cost.

"Reduces to plain nesting" only holds where HTML5's error recovery never acts, so
:func:`parse_simple_html` checks for every construct where it would (an end tag that
does not close the current element, a ``p`` left open before a block, a ``tr`` without
its ``tbody``, text directly in a table, foreign content, ``pre``, a bare ``&`` ...) and
returns ``None`` at the first one: the caller then hands the text to WeasyPrint as
before. It never guesses. The one thing it supplies as HTML5 does is the ``tbody`` of a
table whose rows are written without one. ``tests/unit/report/test_report_html_tree.py`` checks the
trees against tinyhtml5's on rendered reports, letters and cases that must fall back.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import Any

__all__ = ["parse_simple_html", "weasyprint_html"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


VOID = _words("area base br col embed hr img input link meta source track wbr")
HEAD_ONLY = frozenset({"meta", "title", "style"})  # <base> and <link> change URLs: full parser
# start tags that close an open <p> (HTML5 "in body" insertion mode)
CLOSES_P = _words(
    "address article aside blockquote center details dialog dir div dl fieldset "
    "figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr main menu nav ol p "
    "pre section summary table ul li dd dt plaintext xmp listing search"
)
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
TABLE_SECTIONS = frozenset({"thead", "tbody", "tfoot"})
TABLE_CONTEXT = frozenset({"table", "thead", "tbody", "tfoot", "tr", "colgroup"})
# the only parents a table part may have without HTML5 inserting or closing elements
TABLE_PARENTS: dict[str, frozenset[str]] = {
    "tr": TABLE_SECTIONS,
    "td": frozenset({"tr"}),
    "th": frozenset({"tr"}),
    "caption": frozenset({"table"}),
    "colgroup": frozenset({"table"}),
    "col": frozenset({"colgroup"}),
    **{section: frozenset({"table"}) for section in TABLE_SECTIONS},
}
# elements whose HTML5 handling is more than nesting (raw text, foreign content, forms,
# implied or reparented elements): a document holding one is left to the full parser
SPECIAL = _words(
    "html head body frameset frame noframes noscript script template svg math select "
    "option optgroup button form input textarea keygen iframe object applet embed marquee "
    "image isindex nobr ruby rb rt rp rtc pre listing plaintext xmp title style base link "
    "meta param track source area menuitem search"
)
FORMATTING = _words("a b big code em font i nobr s small strike strong tt u")
_SPACE = " \t\n\f"
# an '&' that does not start a complete character reference: HTML5's rules for those
# differ between text and attributes, so they are left to the full parser
_BARE_AMPERSAND = re.compile(r"&(?![A-Za-z][A-Za-z0-9]*;|#[0-9]+;|#[xX][0-9A-Fa-f]+;)")
# a '<' that starts no tag, end tag, comment or doctype: HTML5 makes text or a bogus
# comment of it, each tokenizer in its own way
_ODD_LT = re.compile(r"<(?![A-Za-z]|/[A-Za-z]|!--|!DOCTYPE )")


class _NotSimple(Exception):
    """The document needs HTML5 error recovery somewhere."""


class _Builder(HTMLParser):
    """Builds the tree while checking that each step is one HTML5 takes without recovery."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root: ET.Element | None = None
        self.body: ET.Element | None = None
        self.stack: list[ET.Element] = []
        self.phase = "start"  # start, html, head, after-head, body, after-body, end
        self.implied: set[int] = set()  # ids of the tbody elements HTML5 implies

    # -- text placement ------------------------------------------------------------------

    def _text(self, parent: ET.Element, data: str) -> None:
        if len(parent):
            last = parent[-1]
            last.tail = (last.tail or "") + data
        else:
            parent.text = (parent.text or "") + data

    def handle_data(self, data: str) -> None:
        blank = data.strip(_SPACE) == ""
        phase = self.phase
        if phase in ("start", "html"):
            if not blank:
                raise _NotSimple("text before <head>")
            return  # ignored by HTML5 before <head>
        if phase == "after-head":
            if not blank:
                raise _NotSimple("text between </head> and <body>")
            assert self.root is not None
            self._text(self.root, data)
            return
        if phase in ("after-body", "end"):
            if not blank:
                raise _NotSimple("text after </body>")
            assert self.body is not None
            self._text(self.body, data)  # HTML5 puts it at the end of the body
            return
        top = self.stack[-1]
        if phase == "head" and top.tag == "head" and not blank:
            raise _NotSimple("text in <head>")
        if top.tag in TABLE_CONTEXT and not blank:
            raise _NotSimple("text directly in a table")  # foster-parented by HTML5
        self._text(top, data)

    # -- tags ----------------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attrib: dict[str, str] = {}
        for name, value in attrs:
            attrib.setdefault(name, "" if value is None else value)  # HTML5 keeps the first
        phase = self.phase
        if tag == "html":
            if phase != "start":
                raise _NotSimple("<html> again")
            self.root = ET.Element("html", attrib)
            self.stack = [self.root]
            self.phase = "html"
            return
        if tag == "head":
            if phase != "html":
                raise _NotSimple("<head> out of place")
            self._open(tag, attrib)
            self.phase = "head"
            return
        if tag == "body":
            if phase != "after-head":
                raise _NotSimple("<body> out of place")
            self.body = self._open(tag, attrib)
            self.phase = "body"
            return
        if phase == "head":
            if tag not in HEAD_ONLY or self.stack[-1].tag != "head":
                raise _NotSimple(f"<{tag}> in <head>")
            self._open(tag, attrib)
            if tag in VOID:
                self.stack.pop()
            return
        if phase != "body":
            raise _NotSimple(f"<{tag}> outside <body>")
        if tag in SPECIAL:
            raise _NotSimple(f"<{tag}>")
        top = self.stack[-1]
        if id(top) in self.implied and tag in TABLE_SECTIONS | {"caption", "colgroup"}:
            self.stack.pop()  # HTML5 ends an implied tbody where another section begins
        elif tag == "tr" and top.tag == "table":
            self.implied.add(id(self._open("tbody", {})))  # HTML5 implies a tbody here
        self._check_body_start(tag)
        self._open(tag, attrib)
        if tag in VOID:
            self.stack.pop()

    def _check_body_start(self, tag: str) -> None:
        tags = [e.tag for e in self.stack]
        top = tags[-1]
        if tag in CLOSES_P and "p" in tags:
            raise _NotSimple(f"<{tag}> inside an open <p>")
        if tag in HEADINGS and top in HEADINGS:
            raise _NotSimple("a heading inside a heading")
        if tag in FORMATTING and tag in tags:
            raise _NotSimple(f"<{tag}> inside <{tag}>")  # the adoption agency's case
        if tag in ("li", "dd", "dt"):
            lists = {"li": ("ol", "ul"), "dd": ("dl",), "dt": ("dl",)}[tag]
            for name in reversed(tags):
                if name in lists:
                    break
                if name in ("li", "dd", "dt"):
                    raise _NotSimple(f"<{tag}> inside an open <{name}>")
        expected = TABLE_PARENTS.get(tag)
        if expected is not None and top not in expected:
            raise _NotSimple(f"<{tag}> inside <{top}>")
        if expected is None and top in TABLE_CONTEXT:
            raise _NotSimple(f"<{tag}> directly inside <{top}>")

    def _open(self, tag: str, attrib: dict[str, str]) -> ET.Element:
        element = ET.Element(tag, attrib)
        self.stack[-1].append(element)
        self.stack.append(element)
        return element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            raise _NotSimple(f"<{tag}/>")  # HTML5 ignores the slash of a non-void element
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            raise _NotSimple(f"</{tag}>")
        phase = self.phase
        if tag == "html":
            if phase != "after-body":
                raise _NotSimple("</html> out of place")
            self.phase = "end"
            return
        if tag == "table" and self.stack and id(self.stack[-1]) in self.implied:
            self.stack.pop()  # </table> ends the implied tbody too
        if not self.stack or self.stack[-1].tag != tag:
            raise _NotSimple(f"</{tag}> does not close the current element")
        if tag == "body":
            self.phase = "after-body"  # HTML5 keeps <body> open: later blanks go into it
        elif tag == "head":
            self.phase = "after-head"
        self.stack.pop()

    def handle_comment(self, data: str) -> None:
        if self.phase in ("start", "after-body", "end") or not self.stack:
            raise _NotSimple("a comment outside <html>'s content")
        parent = self.stack[-1]
        if parent.tag in TABLE_CONTEXT | {"style"}:
            raise _NotSimple("a comment in a table")
        parent.append(ET.Comment(data))

    def handle_decl(self, decl: str) -> None:
        if self.phase != "start" or decl.lower() != "doctype html":
            raise _NotSimple(f"<!{decl}>")

    def unknown_decl(self, data: str) -> None:
        raise _NotSimple("a CDATA section or unknown declaration")

    def handle_pi(self, data: str) -> None:
        raise _NotSimple("a processing instruction")


def parse_simple_html(html: str) -> ET.Element | None:
    """The root ``html`` element of ``html`` as tinyhtml5 would build it (without
    namespaces), or None where the document needs HTML5's error recovery anywhere
    (then parse it with the full parser)."""
    if "\r" in html or "\x00" in html or _BARE_AMPERSAND.search(html) or _ODD_LT.search(html):
        return None  # HTML5 rewrites these before tokenizing
    builder = _Builder()
    try:
        builder.feed(html)
        builder.close()
    except _NotSimple:
        return None
    if builder.phase not in ("after-body", "end") or builder.root is None:
        return None
    return builder.root


def weasyprint_html(html: str, url_fetcher: Any) -> Any:
    """A ``weasyprint.HTML`` of ``html`` (no base URL, print media), its tree built by
    :func:`parse_simple_html` where it can be, else by WeasyPrint's own parser.

    The object is put together as ``weasyprint.HTML.__init__`` does after its parse, for
    the WeasyPrint versions this was checked against (:func:`auditor.report.svgtext.
    version_verified`); with another version WeasyPrint parses as usual.
    """
    import cssselect2
    import weasyprint

    from auditor.report.svgtext import version_verified

    root = parse_simple_html(html) if version_verified() else None
    if root is None:
        return weasyprint.HTML(string=html, base_url=None, url_fetcher=url_fetcher)
    document = weasyprint.HTML.__new__(weasyprint.HTML)
    document.base_url = None  # the document has no <base> (it would have been refused)
    document.url_fetcher = url_fetcher
    document.media_type = "print"
    document.wrapper_element = cssselect2.ElementWrapper.from_html_root(root, content_language=None)
    document.etree_element = document.wrapper_element.etree_element
    return document
