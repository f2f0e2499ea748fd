"""HTML to visible text in linear time, with the exact output of the parser it replaces.

Until issue 13 the text of an HTML part was ``BeautifulSoup(html, "html.parser")`` with
``script``, ``style`` and ``head`` removed, then ``get_text(" ")``. The standard library's
``html.parser`` is quadratic on crafted input (``<!--`` repeated: 22 s at 160 KB; the
CPython fix for this, CVE-2025-6069, is not in Python 3.11.7) and BeautifulSoup builds an
object per tag (hundreds of MiB for a tag-heavy MiB). Featuriser spec version 1 is frozen,
so the replacement must give the same words on ordinary mail.

`html_to_text` therefore re-implements the tokeniser of Python 3.11.7's ``html.parser``
(``goahead``, start/end tags, comments, declarations, marked sections, character
references, the two passes ``feed`` + ``close``) and what BeautifulSoup's tree builder does
with its events (the tag stack, void elements, string containers, whitespace-only strings),
but keeps no tree: a string is kept when no open element is ``script``/``style``/``head``
and no string container (``rt``, ``rp``, ``template``, ...) holds it, exactly the strings
``get_text`` would return. Entity tables and the numeric-reference rule are BeautifulSoup's
own (`bs4.dammit`), so they cannot drift from it.

Linear time: the faithful tokeniser counts the characters its searches and matches cover;
ordinary HTML costs a few times its length. Input on which ``html.parser`` would rescan
(unterminated comments, tags or declarations repeated) exceeds `WORK_FACTOR` x its length,
and is then read by `_linear_text`, a simple scanner whose every search is memoised, so
no character is examined more than a bounded number of times. Its output can differ from
BeautifulSoup's only on such input (never on the bundled samples or pinned cases; see
docs/server.md), and it is the same on every Python patch level.

Markup that ``html.parser`` + BeautifulSoup reject outright (an ``AssertionError`` in
``_markupbase``, e.g. ``<![`` followed by an unknown keyword; or a numeric reference too
long for ``int``) raises `HtmlRejectedError`, as BeautifulSoup did, so the caller's
established fallback (the raw message as text) applies unchanged.
"""

from __future__ import annotations

import html as _html
import re
from collections import Counter

from bs4.builder import HTMLTreeBuilder
from bs4.dammit import EntitySubstitution, UnicodeDammit

WORK_FACTOR = 16
"""Exact mode may examine at most this many characters per input character (+ a constant)."""
_WORK_SLACK = 4096

_EMPTY_ELEMENTS = frozenset(HTMLTreeBuilder.DEFAULT_EMPTY_ELEMENT_TAGS or ())
_STRING_CONTAINERS = frozenset(HTMLTreeBuilder.DEFAULT_STRING_CONTAINERS)
_PRESERVE_WHITESPACE = frozenset(HTMLTreeBuilder.DEFAULT_PRESERVE_WHITESPACE_TAGS)
_SIMPLE_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]{0,15})>")
_TAG_WINDOW = 64 * 1024
"""A start tag longer than this (characters) sends the document to the linear reader."""
_CACHED_TAG_CHARS = 256
_TAG_CACHE_SIZE = 4096
_INCOMPLETE_TAG, _TAG_AS_DATA, _STARTEND_TAG, _START_TAG = range(4)
_HIDDEN = frozenset(("script", "style", "head"))
_CDATA_CONTENT = ("script", "style")
_ASCII_SPACES = "\x20\x0a\x09\x0c\x0d"
_ENTITIES: dict[str, str] = EntitySubstitution.HTML_ENTITY_TO_CHARACTER

# The regular expressions of Python 3.11.7's html.parser and _markupbase, verbatim.
_INTERESTING_NORMAL = re.compile("<[a-zA-Z/!?]|&[a-zA-Z#]")
"""html.parser searches ``[&<]``; a ``<`` or ``&`` not followed by these characters only
ever becomes text, which joins the text around it, so skipping it here changes nothing
(and a run of them costs one search instead of one loop turn each)."""
_INCOMPLETE = re.compile("&[a-zA-Z#]")
_ENTITYREF = re.compile("&([a-zA-Z][-.a-zA-Z0-9]*)[^a-zA-Z0-9]")
_CHARREF = re.compile("&#(?:[0-9]+|[xX][0-9a-fA-F]+)[^0-9a-fA-F]")
_STARTTAGOPEN = re.compile("<[a-zA-Z]")
_PICLOSE = re.compile(">")
_TAGFIND_TOLERANT = re.compile(r"([a-zA-Z][^\t\n\r\f />\x00]*)(?:\s|/(?!>))*")
_ATTRFIND_TOLERANT = re.compile(
    r"((?<=[\'\"\s/])[^\s/>][^\s/=>]*)(\s*=+\s*"
    r"(\'[^\']*\'|\"[^\"]*\"|(?![\'\"])[^>\s]*))?(?:\s|/(?!>))*"
)
_LOCATESTARTTAGEND_TOLERANT = re.compile(
    r"""
  <[a-zA-Z][^\t\n\r\f />\x00]*
  (?:[\s/]*
    (?:(?<=['"\s/])[^\s/>][^\s/=>]*
      (?:\s*=+\s*
        (?:'[^']*'
          |"[^"]*"
          |(?!['"])[^>\s]*
         )
        \s*
       )?(?:\s|/(?!>))*
     )*
   )?
  \s*
""",
    re.VERBOSE,
)
_ENDENDTAG = re.compile(">")
_ENDTAGFIND = re.compile(r"</\s*([a-zA-Z][-.a-zA-Z0-9:_]*)\s*>")
_DECLNAME = re.compile(r"[a-zA-Z][-_.a-zA-Z0-9]*\s*")
_COMMENTCLOSE = re.compile(r"--\s*>")
_MARKEDSECTIONCLOSE = re.compile(r"]\s*]\s*>")
_MSMARKEDSECTIONCLOSE = re.compile(r"]\s*>")
_DECIMAL_WITH_REST = re.compile("^([0-9]+)(.*)")
_HEX_WITH_REST = re.compile("^([0-9a-f]+)(.*)")


class HtmlRejectedError(ValueError):
    """``html.parser`` + BeautifulSoup would have refused this markup (see module doc)."""


class _OverBudgetError(Exception):
    """The faithful tokeniser would rescan too much: switch to `_linear_text`."""


class _Text:
    """BeautifulSoup's tree builder reduced to what ``get_text`` needs (see module doc)."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.open = Counter[str]()
        self.hidden = 0
        self.containers = 0
        self.preserve = 0
        self.already_closed = Counter[str]()  # BeautifulSoup keeps a list; only counts matter
        self.data: list[str] = []
        self.out: list[str] = []

    def end_data(self, kind: str = "string") -> None:
        """Close the current string. `kind`: ``string`` (text), ``cdata`` (a CDATA section:
        kept even inside a string container) or ``hidden`` (comment, declaration, PI)."""
        if not self.data:
            return
        text = "".join(self.data)
        self.data.clear()
        if not self.preserve and not text.strip(_ASCII_SPACES):
            text = "\n" if "\n" in text else " "
        if kind != "hidden" and not self.hidden and (kind == "cdata" or not self.containers):
            self.out.append(text)

    def string(self, data: str, kind: str) -> None:
        """A string of its own (BeautifulSoup: endData, handle_data, endData(kind))."""
        self.end_data()
        self.data.append(data)
        self.end_data(kind)

    def start_tag(self, tag: str, *, empty_element: bool = True) -> None:
        self.end_data()
        self.stack.append(tag)
        self.open[tag] += 1
        self.hidden += tag in _HIDDEN
        self.containers += tag in _STRING_CONTAINERS
        self.preserve += tag in _PRESERVE_WHITESPACE
        if empty_element and tag in _EMPTY_ELEMENTS:
            self._soup_end_tag(tag)
            self.already_closed[tag] += 1

    def end_tag(self, tag: str, *, check_already_closed: bool = True) -> None:
        if check_already_closed and self.already_closed[tag]:
            self.already_closed[tag] -= 1
        else:
            self._soup_end_tag(tag)

    def _soup_end_tag(self, tag: str) -> None:
        self.end_data()
        while self.stack and self.open[tag]:
            popped = self.stack.pop()
            self.open[popped] -= 1
            self.hidden -= popped in _HIDDEN
            self.containers -= popped in _STRING_CONTAINERS
            self.preserve -= popped in _PRESERVE_WHITESPACE
            if popped == tag:
                break


def html_to_text(html: str) -> str:
    """Visible text of an HTML document (scripts, styles, head dropped), strings joined by a
    space: what ``BeautifulSoup(html, "html.parser")`` gave, in linear time (module doc)."""
    try:
        return _ExactScanner(html).run()
    except _OverBudgetError:
        return _linear_text(html)


class _ExactScanner:
    """Python 3.11.7 ``html.parser`` with ``convert_charrefs=False``, driving `_Text`."""

    def __init__(self, html: str) -> None:
        self.raw = html
        self.n = len(html)
        self.budget = WORK_FACTOR * self.n + _WORK_SLACK
        self.cdata_elem: str | None = None
        self.interesting: re.Pattern[str] = _INTERESTING_NORMAL
        self.text = _Text()
        self.tag_cache: dict[str, tuple[int, str, int]] = {}

    def _spend(self, start: int, stop: int) -> None:
        self.budget -= stop - start + 1
        if self.budget < 0:
            raise _OverBudgetError

    def _find(self, needle: str, start: int) -> int:
        pos = self.raw.find(needle, start)
        self._spend(start, self.n if pos < 0 else pos + len(needle))
        return pos

    def _search(self, pattern: re.Pattern[str], start: int) -> re.Match[str] | None:
        m = pattern.search(self.raw, start)
        self._spend(start, self.n if m is None else m.end())
        return m

    def _match(self, pattern: re.Pattern[str], start: int) -> re.Match[str] | None:
        m = pattern.match(self.raw, start)
        self._spend(start, start if m is None else m.end())
        return m

    def run(self) -> str:
        rest = self._goahead(0, end=False)  # feed()
        self._goahead(rest, end=True)  # close()
        self.text.end_data()
        return " ".join(self.text.out)

    def _data(self, data: str) -> None:
        self.text.data.append(data)

    def _goahead(self, i: int, *, end: bool) -> int:
        raw, n = self.raw, self.n
        data = self.text.data
        while i < n:
            match = self.interesting.search(raw, i)
            if match:
                j = match.start()
                self.budget -= match.end() - i + 1
            else:
                self.budget -= n - i + 1
                if self.cdata_elem:
                    break
                j = n
            if self.budget < 0:
                raise _OverBudgetError
            if i < j:
                data.append(raw[i:j])
            i = j
            if i == n:
                break
            if not self.cdata_elem:
                simple = _SIMPLE_TAG.match(raw, i)
                if simple:  # <name> or </name>: what html.parser does with it is certain
                    name = simple.group(2).lower()
                    self.budget -= simple.end() - i
                    if simple.group(1):
                        self.text.end_tag(name)
                    else:
                        self._open(name)
                    i = simple.end()
                    continue
            if raw.startswith("<", i):
                if _STARTTAGOPEN.match(raw, i):
                    k = self._parse_starttag(i)
                elif raw.startswith("</", i):
                    k = self._parse_endtag(i)
                elif raw.startswith("<!--", i):
                    k = self._parse_comment(i)
                elif raw.startswith("<?", i):
                    k = self._parse_pi(i)
                elif raw.startswith("<!", i):
                    k = self._parse_html_declaration(i)
                elif (i + 1) < n:
                    self._data("<")
                    k = i + 1
                else:
                    break
                if k < 0:
                    if not end:
                        break
                    k = self._find(">", i + 1)
                    if k < 0:
                        k = self._find("<", i + 1)
                        if k < 0:
                            k = i + 1
                    else:
                        k += 1
                    self._data(raw[i:k])
                i = k
            elif raw.startswith("&#", i):
                m = self._match(_CHARREF, i)
                if m:
                    self._charref(m.group()[2:-1])
                    k = m.end()
                    if not raw.startswith(";", k - 1):
                        k = k - 1
                    i = k
                    continue
                if self._find(";", i) >= 0:
                    self._data(raw[i : i + 2])
                    i = i + 2
                break
            elif raw.startswith("&", i):
                m = self._match(_ENTITYREF, i)
                if m:
                    name = m.group(1)
                    entity = _ENTITIES.get(name)
                    self._data(entity if entity is not None else "&" + name)
                    k = m.end()
                    if not raw.startswith(";", k - 1):
                        k = k - 1
                    i = k
                    continue
                m = _INCOMPLETE.match(raw, i)
                if m:
                    if end and m.end() == n:
                        i = i + 1
                    break
                if (i + 1) < n:
                    self._data("&")
                    i = i + 1
                else:
                    break
        if end and i < n and not self.cdata_elem:
            self._data(raw[i:n])
            i = n
        return i

    def _charref(self, name: str) -> None:
        """BeautifulSoup's numeric reference rule (windows-1252 for C1, U+FFFD for invalid)."""
        base, pattern = 10, _DECIMAL_WITH_REST
        if name.startswith(("x", "X")):
            name, base, pattern = name[1:], 16, _HEX_WITH_REST
        extra = ""
        try:
            number: int | None = int(name, base)
        except ValueError:
            number = None
            m = pattern.search(name)
            if m is not None:
                try:
                    number = int(m.group(1), base)
                except ValueError as exc:  # over Python's int digit limit
                    raise HtmlRejectedError(str(exc)) from None
                extra = m.group(2)
        if number is None:
            self._data("")
            self._data(name)
            return
        self._data(UnicodeDammit.numeric_character_reference(number)[0])
        self._data(extra)

    def _parse_starttag(self, i: int) -> int:
        """``parse_starttag``; a tag without quotes up to its first ``>`` is parsed once per
        distinct text (its outcome depends on nothing else), which makes common tags cheap."""
        g = self.raw.find(">", i, i + _CACHED_TAG_CHARS)
        if g < 0:
            return self._parse_starttag_uncached(i)
        key = self.raw[i : g + 1]
        cached = self.tag_cache.get(key)
        self._spend(i, g)
        if cached is None:
            if "'" in key or '"' in key:
                return self._parse_starttag_uncached(i)
            outcome = self._classify_starttag(i)
            if len(self.tag_cache) < _TAG_CACHE_SIZE:
                self.tag_cache[key] = outcome
            cached = outcome
        endpos_off, tag, kind = cached
        if kind == _INCOMPLETE_TAG:
            return -1
        endpos = i + endpos_off
        if kind == _TAG_AS_DATA:
            self.text.data.append(self.raw[i:endpos])
        elif kind == _STARTEND_TAG:
            self.text.start_tag(tag, empty_element=False)
            self.text.end_tag(tag, check_already_closed=False)
        else:
            self._open(tag)
        return endpos

    def _classify_starttag(self, i: int) -> tuple[int, str, int]:
        """What ``parse_starttag`` does at `i`: (end offset, tag, kind); no side effects."""
        endpos = self._check_for_whole_start_tag(i)
        if endpos < 0:
            return 0, "", _INCOMPLETE_TAG
        raw = self.raw
        m = self._match(_TAGFIND_TOLERANT, i + 1)
        assert m is not None
        k = m.end()
        tag = m.group(1).lower()
        while k < endpos:
            am = self._match(_ATTRFIND_TOLERANT, k)
            if not am:
                break
            k = am.end()
        tail = raw[k:endpos].strip()
        if tail not in (">", "/>"):
            return endpos - i, tag, _TAG_AS_DATA
        return endpos - i, tag, _STARTEND_TAG if tail.endswith("/>") else _START_TAG

    def _open(self, tag: str) -> None:
        self.text.start_tag(tag)
        if tag in _CDATA_CONTENT:
            self.cdata_elem = tag
            self.interesting = re.compile(rf"</\s*{tag}\s*>", re.I)

    def _parse_starttag_uncached(self, i: int) -> int:
        endpos = self._check_for_whole_start_tag(i)
        if endpos < 0:
            return endpos
        raw = self.raw
        m = self._match(_TAGFIND_TOLERANT, i + 1)
        assert m is not None
        k = m.end()
        tag = m.group(1).lower()
        while k < endpos:
            am = self._match(_ATTRFIND_TOLERANT, k)
            if not am:
                break
            k = am.end()
        tail = raw[k:endpos].strip()
        if tail not in (">", "/>"):
            self._data(raw[i:endpos])
            return endpos
        if tail.endswith("/>"):
            self.text.start_tag(tag, empty_element=False)
            self.text.end_tag(tag, check_already_closed=False)
        else:
            self._open(tag)
        return endpos

    def _check_for_whole_start_tag(self, i: int) -> int:
        raw = self.raw
        window = min(self.n, i + _TAG_WINDOW)
        m = _LOCATESTARTTAGEND_TOLERANT.match(raw, i, window)
        assert m is not None
        j = m.end()
        self._spend(i, j)
        if j == window < self.n:  # the tag may go on: html.parser would rescan it
            raise _OverBudgetError
        nxt = raw[j : j + 1]
        if nxt == ">":
            return j + 1
        if nxt == "/":
            if raw.startswith("/>", j):
                return j + 2
            return -1  # html.parser: a "/" here always means "wait for more"
        if nxt == "":
            return -1
        if nxt in "abcdefghijklmnopqrstuvwxyz=/ABCDEFGHIJKLMNOPQRSTUVWXYZ":
            return -1
        return j if j > i else i + 1

    def _parse_endtag(self, i: int) -> int:
        raw = self.raw
        m = self._search(_ENDENDTAG, i + 1)
        if not m:
            return -1
        gtpos = m.end()
        m = self._match(_ENDTAGFIND, i)
        if not m:
            if self.cdata_elem is not None:
                self._data(raw[i:gtpos])
                return gtpos
            namematch = self._match(_TAGFIND_TOLERANT, i + 2)
            if not namematch:
                if raw[i : i + 3] == "</>":
                    return i + 3
                return self._parse_bogus_comment(i)
            tagname = namematch.group(1).lower()
            gtpos = self._find(">", namematch.end())
            self.text.end_tag(tagname)
            return gtpos + 1
        elem = m.group(1).lower()
        if self.cdata_elem is not None and elem != self.cdata_elem:
            self._data(raw[i:gtpos])
            return gtpos
        self.text.end_tag(elem)
        self.cdata_elem = None
        self.interesting = _INTERESTING_NORMAL
        return gtpos

    def _parse_comment(self, i: int) -> int:
        m = self._search(_COMMENTCLOSE, i + 4)
        if not m:
            return -1
        self.text.string(self.raw[i + 4 : m.start()], "hidden")
        return m.end()

    def _parse_pi(self, i: int) -> int:
        m = self._search(_PICLOSE, i + 2)
        if not m:
            return -1
        self.text.string(self.raw[i + 2 : m.start()], "hidden")
        return m.end()

    def _parse_html_declaration(self, i: int) -> int:
        raw = self.raw
        if raw[i : i + 4] == "<!--":
            return self._parse_comment(i)
        if raw[i : i + 3] == "<![":
            return self._parse_marked_section(i)
        if raw[i : i + 9].lower() == "<!doctype":
            gtpos = self._find(">", i + 9)
            if gtpos == -1:
                return -1
            self.text.string(raw[i + 2 : gtpos][len("DOCTYPE ") :], "hidden")
            return gtpos + 1
        return self._parse_bogus_comment(i)

    def _parse_bogus_comment(self, i: int) -> int:
        pos = self._find(">", i + 2)
        if pos == -1:
            return -1
        self.text.string(self.raw[i + 2 : pos], "hidden")
        return pos + 1

    def _parse_marked_section(self, i: int) -> int:
        raw = self.raw
        name, j = self._scan_name(i + 3, i)
        if j < 0:
            return j
        if name in {"temp", "cdata", "ignore", "include", "rcdata"}:
            m = self._search(_MARKEDSECTIONCLOSE, i + 3)
        elif name in {"if", "else", "endif"}:
            m = self._search(_MSMARKEDSECTIONCLOSE, i + 3)
        else:
            raise HtmlRejectedError(f"unknown status keyword {raw[i + 3 : j]!r} in marked section")
        if not m:
            return -1
        data = raw[i + 3 : m.start()]
        if data.upper().startswith("CDATA["):
            self.text.string(data[len("CDATA[") :], "cdata")
        else:
            self.text.string(data, "hidden")
        return m.end()

    def _scan_name(self, i: int, declstartpos: int) -> tuple[str | None, int]:
        if i == self.n:
            return None, -1
        m = self._match(_DECLNAME, i)
        if m:
            s = m.group()
            if (i + len(s)) == self.n:
                return None, -1
            return s.strip().lower(), m.end()
        raise HtmlRejectedError(
            f"expected name token at {self.raw[declstartpos : declstartpos + 20]!r}"
        )


# -- the linear fallback --------------------------------------------------------------

_TAG_NAME = re.compile(r"</?([a-zA-Z][^\t\n\r\f />\x00<]{0,63})")
_ENTITY = re.compile(r"&(?:#[0-9]{1,10};?|#[xX][0-9a-fA-F]{1,8};?|[A-Za-z][A-Za-z0-9]{0,31};?)")


class _MemoFind:
    """``str.find`` for one needle with non-decreasing starts: linear over all calls."""

    def __init__(self, text: str, needle: str) -> None:
        self.text, self.needle = text, needle
        self.start, self.found = -1, -1

    def __call__(self, start: int) -> int:
        if self.start >= 0 and start >= self.start and (self.found < 0 or start <= self.found):
            return self.found
        self.start, self.found = start, self.text.find(self.needle, start)
        return self.found


def _unescape(text: str) -> str:
    return _ENTITY.sub(lambda m: _html.unescape(m.group()), text)


def _linear_text(html: str) -> str:
    """Tags, comments and declarations skipped; script/style/head content dropped; entities
    decoded; strings joined by a space. Every search is memoised (`_MemoFind`), so the scan
    is linear whatever the input (used only when `_ExactScanner` would rescan)."""
    n = len(html)
    lower = html.lower()
    find_gt = _MemoFind(html, ">")
    find_comment_end = _MemoFind(html, "-->")
    closers = {name: _MemoFind(lower, f"</{name}") for name in _CDATA_CONTENT}
    text = _Text()
    pos = 0
    while pos < n:
        lt = html.find("<", pos)
        if lt < 0:
            text.data.append(_unescape(html[pos:]))
            break
        if lt > pos:
            text.data.append(_unescape(html[pos:lt]))
        if html.startswith("<!--", lt):
            close = find_comment_end(lt + 4)
            text.end_data()
            pos = n if close < 0 else close + 3
            continue
        tag = _TAG_NAME.match(html, lt)
        if tag is None and not html.startswith(("<!", "<?"), lt):
            text.data.append("<")
            pos = lt + 1
            continue
        gt = find_gt(lt + 1)
        if gt < 0:
            text.data.append(_unescape(html[lt:]))
            break
        pos = gt + 1
        if tag is None:  # declaration or processing instruction
            text.end_data()
            continue
        name = tag.group(1).lower()
        if html.startswith("</", lt):
            text.end_tag(name)
        elif html[gt - 1] == "/" and gt - 1 > tag.end():
            text.start_tag(name, empty_element=False)
            text.end_tag(name, check_already_closed=False)
        else:
            text.start_tag(name)
            if name in _CDATA_CONTENT:
                close = closers[name](pos)
                end_gt = find_gt(close) if close >= 0 else -1
                pos = n if end_gt < 0 else end_gt + 1
                text.end_tag(name)
    text.end_data()
    return " ".join(text.out)
