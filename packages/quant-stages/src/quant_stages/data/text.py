"""Reading a text input file (candidates JSON, returns CSV, profile TOML) as UTF-8, with an error
that names the file and says what it is instead (UTF-16, binary, a folder) rather than a bare
UnicodeDecodeError or IsADirectoryError."""

from __future__ import annotations

from pathlib import Path

from quant_core.errors import DataValidationError

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
#: How much of a file is looked at to tell binary data (NUL bytes) from text in another encoding.
SNIFF_BYTES = 512


def read_text_file(path: str | Path, source: str | None = None) -> str:
    """The file's text (UTF-8, a BOM allowed); a `DataValidationError` naming the file otherwise."""
    file = Path(path)
    source = source or str(file)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise DataValidationError("file not found", source=source, rule="file-not-found") from None
    except IsADirectoryError:
        raise DataValidationError("is a directory, expected a file", source=source, rule="not-a-file") from None
    except OSError as exc:
        raise DataValidationError(f"cannot be read: {exc.strerror or exc}", source=source, rule="unreadable-file") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise not_utf8(source, data[:SNIFF_BYTES], exc) from None


def not_utf8(source: str, head: bytes, exc: UnicodeDecodeError) -> DataValidationError:
    """The error for a file that is not UTF-8 text, saying what it looks like instead."""
    if head.startswith(_UTF16_BOMS):
        looks = "it is UTF-16 text: save it as UTF-8"
    elif b"\x00" in head:
        looks = "it looks like a binary file, not text"
    else:
        looks = "save it as UTF-8"
    return DataValidationError(
        f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); {looks}",
        source=source, rule="encoding",
    )
