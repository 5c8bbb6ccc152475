"""Turning a document's bytes into plain text: Markdown and plain text as they are, HTML without its markup,
PDF through pypdf (text layer only, no OCR), DOCX through python-docx. Anything else, or a file these cannot
read, raises `UnreadableDocument` with a message saying why; the caller records it on the item."""

from __future__ import annotations

import io
import logging
import re
from html.parser import HTMLParser
from pathlib import PurePosixPath

from kumo.aisearch.errors import UnreadableDocument

# pypdf logs every recoverable oddity of a file as a warning; a file it cannot read raises, which we report
logging.getLogger("pypdf").setLevel(logging.ERROR)

MARKDOWN = (".md", ".markdown", ".mdx")
PLAIN = (".txt", ".text", ".rst", ".csv", ".tsv", ".json", ".log", ".yaml", ".yml", ".xml")
HTML = (".html", ".htm", ".xhtml")
SUPPORTED = MARKDOWN + PLAIN + HTML + (".pdf", ".docx")


def extension(key: str) -> str:
    return PurePosixPath(key).suffix.lower()


def is_supported(key: str) -> bool:
    return extension(key) in SUPPORTED


def unsupported_message(key: str) -> str:
    ext = extension(key) or "(no extension)"
    return (f"unsupported file type {ext}: kumo indexes Markdown, plain text ({', '.join(PLAIN[:3])}...), "
            "HTML, PDF and DOCX files")


def to_text(key: str, data: bytes) -> str:
    ext = extension(key)
    if ext in MARKDOWN or ext in PLAIN:
        text = _decode(data)
    elif ext in HTML:
        text = html_to_text(_decode(data, strict=False))
    elif ext == ".pdf":
        text = _pdf(data)
    elif ext == ".docx":
        text = _docx(data)
    else:
        raise UnreadableDocument(unsupported_message(key), "unsupported_file_type")
    text = _tidy(text)
    if not text.strip():
        raise UnreadableDocument(f"{key} contains no text to index", "empty_document")
    return text


def _decode(data: bytes, strict: bool = True) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise UnreadableDocument("the file starts with a UTF-16 byte order mark but is not valid UTF-16") from None
    if b"\x00" in data[:8192]:
        raise UnreadableDocument("the file holds binary data, not text (NUL bytes found)", "binary_data")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if not strict:
            return data.decode("utf-8", errors="replace")
        raise UnreadableDocument(f"the file is not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8",
                                 "encoding_error") from None


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = re.sub(r"[ \t\f\v]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


class _TextExtractor(HTMLParser):
    SKIP = {"script", "style", "noscript", "template", "svg", "head"}
    BLOCK = {"p", "div", "section", "article", "header", "footer", "li", "ul", "ol", "table", "tr", "br", "hr",
             "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "title", "main", "aside", "nav", "dd", "dt"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.in_title = False

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self.in_title = True  # <title> sits in <head> but names the page: keep it
        elif tag in self.SKIP:
            self.skipping += 1
        if tag in self.BLOCK:
            self.parts.append("\n\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False
        elif tag in self.SKIP and self.skipping:
            self.skipping -= 1
        if tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if not self.skipping or self.in_title:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    return "\n\n".join(p.strip() for p in re.split(r"\n\s*\n", text) if p.strip())


def _pdf(data: bytes) -> str:
    import pypdf
    from pypdf.errors import PyPdfError

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableDocument("the PDF is encrypted with a password", "encrypted_document")
        pages = [page.extract_text() or "" for page in reader.pages]
    except UnreadableDocument:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, AttributeError) as exc:
        raise UnreadableDocument(f"not a readable PDF: {exc}", "conversion_error") from None
    text = "\n\n".join(pages)
    if not text.strip():
        raise UnreadableDocument("the PDF has no text layer (scanned pages?); kumo does not run OCR",
                                 "empty_document")
    return text


def _docx(data: bytes) -> str:
    import zipfile

    import docx
    from docx.opc.exceptions import OpcError

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, OpcError, KeyError, ValueError) as exc:
        raise UnreadableDocument(f"not a readable DOCX file: {exc or type(exc).__name__}", "conversion_error") from None
    blocks = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            blocks.append(" | ".join(cell.text for cell in row.cells))
    return "\n\n".join(b for b in blocks if b.strip())
