"""The linear HTML reader gives BeautifulSoup's exact text, and stays linear where
``html.parser`` goes quadratic.

The reference is the code it replaced: ``BeautifulSoup(html, "html.parser")``, ``script``,
``style`` and ``head`` removed, ``get_text(" ")`` (the installed Python 3.11.7, whose
``html.parser`` predates the CVE-2025-6069 fix). Hypothesis strings together the
fragments where the two parsers could part ways (unterminated comments, tags and
references, marked sections, void elements closed twice, string containers, ...).
"""

from __future__ import annotations

import html.parser
import time
import warnings

import pytest
from bs4 import BeautifulSoup
from hypothesis import given, settings
from hypothesis import strategies as st

from sealdog.data.sample_corpus import load_samples
from sealdog.mail import html_text
from sealdog.mail.html_text import HtmlRejectedError, html_to_text
from sealdog.mail.message import email_parts

FRAGMENTS = [
    "<p>", "</p>", "<br>", "</br>", "<br/>", "<head>", "</head>", "<script>", "</script>",
    "<style>", "</style >", "<!--", "-->", "--", "<!-- c -->", "&amp;", "&amp", "&#65;",
    "&#x41", "&#", "&#;", "&foo;", "&nbsp", "&", "<", ">", "/", "=", "'", '"', "<a href='x'>",
    "<a href=x y>", "</a>", "<![CDATA[x]]>", "<![if !IE]>", "<![endif]>", "<!DOCTYPE html>",
    "<!x>", "<?pi?>", "<rt>", "</rt>", "<template>", "<pre>", "</pre>", " ", "\n", "word",
    "w2", "<b", "<b ", "</b", "</ b>", "</>", "<img src=1>", "</img>", "<div/>",
    '<p class="a b">', "\t", "<textarea>", "</textarea>", "&#12a;", "&#99999999;", "&#128;",
    "<TD>", "</Td>", "<x-y:z>", "&AMP;", "\u00e9", "<![ x", "<![foo[x]]>",
]  # fmt: skip


def reference(markup: str) -> str:
    """The code html_to_text replaced, verbatim (an exception means: rejected)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        soup = BeautifulSoup(markup, "html.parser")
    for element in soup(["script", "style", "head"]):
        element.decompose()
    return soup.get_text(" ")


def ours_or_rejected(markup: str) -> str | None:
    try:
        return html_to_text(markup)
    except HtmlRejectedError:
        return None


def reference_or_rejected(markup: str) -> str | None:
    try:
        return reference(markup)
    except Exception:
        return None


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30))
def test_same_text_as_beautifulsoup(fragments: list[str]) -> None:
    markup = "".join(fragments)
    assert ours_or_rejected(markup) == reference_or_rejected(markup)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="<>!-/&#;ab=' \"x[]?", max_size=60))
def test_same_text_as_beautifulsoup_on_markup_soup(markup: str) -> None:
    assert ours_or_rejected(markup) == reference_or_rejected(markup)


def test_same_text_on_every_html_part_of_the_samples() -> None:
    seen = 0
    for sample in load_samples():
        for part in email_parts_html(sample.raw):
            seen += 1
            assert html_to_text(part) == reference(part), sample.name
    assert seen >= 5


def email_parts_html(raw: bytes) -> list[str]:
    import email
    import email.policy

    message = email.message_from_bytes(raw, policy=email.policy.default)
    out = []
    for part in message.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                out.append(payload.decode("utf-8", "replace"))
    return out


def test_rejected_markup_keeps_the_old_fallback() -> None:
    raw = b"Subject: s\nContent-Type: text/html\n\n<p>hi</p><![foo[x]]>\n"
    with pytest.raises(HtmlRejectedError):
        html_to_text("<p>hi</p><![foo[x]]>")
    with pytest.raises(Exception):  # noqa: B017  (BeautifulSoup's ParserRejectedMarkup)
        reference("<p>hi</p><![foo[x]]>")
    assert email_parts(raw).subject == ""  # whole message read as text, as before


HOSTILE = {
    "comments": "<!--" * 40_000,
    "unclosed tags": "<a x=" * 32_000,
    "unclosed quotes": "<a x='" * 26_000,
    "declarations": "<!x" * 50_000,
    "endtags": "</a" * 50_000,
    "marked sections": "<![CDATA[" * 18_000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_rescanning_input_goes_to_the_linear_reader(name: str) -> None:
    markup = "<p>before words</p>" + HOSTILE[name]
    with pytest.raises(html_text._OverBudgetError):
        html_text._ExactScanner(markup).run()
    assert "before words" in html_to_text(markup)


def test_the_linear_reader_reads_ordinary_html_like_the_exact_one() -> None:
    markup = (
        "<html><head><title>t</title></head><body><p>Hello <b>world</b> &amp; friends"
        "<script>hidden()</script><style>p{}</style><!-- note --> see <a href='x'>here</a>"
        "</p></body></html>"
    )
    assert html_text._linear_text(markup).split() == html_to_text(markup).split()


def _characters_examined_by_html_parser(markup: str) -> int:
    """How much text the stdlib parser's searches cover: the weak variant's cost."""
    parser = html.parser.HTMLParser(convert_charrefs=False)
    examined = 0
    original = parser.parse_comment

    def counting(i: int, report: int = 1) -> int:
        nonlocal examined
        examined += len(parser.rawdata) - i  # a failed search runs to the end
        return original(i, report)

    parser.parse_comment = counting  # type: ignore[method-assign]
    parser.feed(markup)
    parser.close()
    return examined


def test_comment_flood_is_quadratic_for_html_parser_and_linear_for_us() -> None:
    small, large = "<!--" * 2_000, "<!--" * 8_000
    weak = [_characters_examined_by_html_parser(m) for m in (small, large)]
    assert weak[1] > 12 * weak[0]  # 4x the input, ~16x the work: quadratic
    start = time.process_time()
    html_to_text("<!--" * 250_000)  # 1 MB: html.parser takes minutes
    assert time.process_time() - start < 5.0
