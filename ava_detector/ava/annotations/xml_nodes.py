"""XML text -> a small element tree whose nodes know their line, with DTDs refused.

Annotation exports are read with the standard library's expat parser, not ``xml.etree``: each node
keeps the line and column where its start tag begins (so errors can name them), and a document that
declares a DOCTYPE (the only way to define entities, hence entity-expansion attacks) or references an
external entity is rejected before anything is expanded. Pure: bytes in, nodes out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn
from xml.parsers import expat

from ava_detector.data.errors import InputFileError

__all__ = ["XmlNode", "parse_xml"]


@dataclass
class XmlNode:
    """An element: ``tag``, ``attrib``, stripped ``text`` (all character data directly inside it),
    ``children`` in document order, and the 1-based ``line`` / ``column`` of its start tag."""

    tag: str
    attrib: dict[str, str]
    line: int
    column: int
    children: list[XmlNode] = field(default_factory=list)
    text: str = ""

    def find(self, tag: str) -> XmlNode | None:
        """The first child named ``tag`` (or ``None``).

        Args:
            tag: element name.
        """
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag: str) -> list[XmlNode]:
        """The children named ``tag``.

        Args:
            tag: element name.
        """
        return [c for c in self.children if c.tag == tag]

    def child_text(self, tag: str, default: str = "") -> str:
        """The text of the first child named ``tag`` (``default`` if there is none).

        Args:
            tag: element name.
            default: returned when the child is missing.
        """
        c = self.find(tag)
        return c.text if c is not None else default


class _Refused(Exception):
    def __init__(self, line: int, problem: str) -> None:
        self.line, self.problem = line, problem


def parse_xml(data: bytes, path: str | Path = "<xml>") -> XmlNode:
    """Parse XML bytes into :class:`XmlNode` s; the root is returned.

    Args:
        data: the document (any encoding its declaration names; UTF-8 by default).
        path: the file, named in errors.

    Raises:
        InputFileError: malformed XML (expat's message, line), a DOCTYPE / entity declaration or an
            external entity reference (refused).
    """
    parser = expat.ParserCreate()
    stack: list[XmlNode] = []
    texts: list[list[str]] = []
    root: list[XmlNode] = []

    def start(tag: str, attrib: dict[str, str]) -> None:
        node = XmlNode(tag, dict(attrib), parser.CurrentLineNumber, parser.CurrentColumnNumber + 1)
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)
        texts.append([])

    def end(tag: str) -> None:
        node = stack.pop()
        node.text = "".join(texts.pop()).strip()

    def chars(data: str) -> None:
        if texts:
            texts[-1].append(data)

    def refuse_doctype(*_args: object) -> NoReturn:
        raise _Refused(
            parser.CurrentLineNumber,
            "DOCTYPE declarations are not accepted (entities "
            "could expand without bound); export the file again from the tool",
        )

    def refuse_entity(*_args: object) -> NoReturn:
        raise _Refused(parser.CurrentLineNumber, "entity declarations are not accepted")

    def refuse_external(*_args: object) -> NoReturn:
        raise _Refused(parser.CurrentLineNumber, "external entities are not accepted")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = refuse_entity
    parser.ExternalEntityRefHandler = refuse_external
    try:
        parser.Parse(data, True)
    except _Refused as e:
        raise InputFileError(path, e.line, e.problem) from None
    except expat.ExpatError as e:
        raise InputFileError(
            path,
            e.lineno,
            f"malformed XML: {expat.errors.messages[e.code]} (column {e.offset + 1})",
        ) from None
    if not root:
        raise InputFileError(path, None, "empty XML document")
    return root[0]
