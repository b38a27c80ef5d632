"""Sealed JSON documents: a JSON object that carries the sha256 of its own text.

A sealed document is the object's JSON text with one last member added,
`"checksum": "sha256:<hex>"`, where `<hex>` hashes every byte before the comma that introduces
it. It stays a plain JSON object (tools and people read it as before), and any changed byte is
found: in the hashed text, in the checksum itself, or in the punctuation around it (the text no
longer parses, or no longer ends with a checksum).

Manifests, ledger and context lines, lock files and cache entries are sealed; artifacts need no
seal, their name is their hash.
"""

from __future__ import annotations

import json
import re

from quant_core.hashing import sha256_hex

CHECKSUM_KEY = "checksum"
_COMPACT_TAIL = b',"checksum":"sha256:%s"}'
_COMPACT_PREFIX = b',"checksum":"sha256:'
_HEX_END = 2  # the '"}' after the hex digits
_COMPACT_LENGTH = len(_COMPACT_PREFIX) + 64 + _HEX_END
_PRETTY_TAIL = b',\n  "checksum": "sha256:%s"\n}'
# Anchored at the end; searched only in the last bytes of the text (the tail is short).
_TAIL_RE = re.compile(rb',\s*"checksum":\s*"sha256:([0-9a-f]{64})"\s*}\s*\Z')
_TAIL_WINDOW = 160


class SealBroken(ValueError):
    """The document's text does not match its checksum, or cannot be read as a sealed document.
    `reason` says what was found, for a message that also names the file."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def seal(body: bytes, *, pretty: bool = False) -> bytes:
    """`body` (a non-empty JSON object's text) with its checksum as the last member."""
    head = body.rstrip()
    if not head.endswith(b"}"):
        raise ValueError("only a JSON object can be sealed")
    head = head[:-1].rstrip()
    if head.endswith(b"{"):
        raise ValueError("an empty JSON object cannot be sealed")
    return head + (_PRETTY_TAIL if pretty else _COMPACT_TAIL) % sha256_hex(head).encode()


def unseal(raw: bytes, *, required: bool = True) -> bytes:
    """The JSON text of a sealed document, its checksum checked and the checksum member dropped.

    With `required=False`, a document written before seals existed (no checksum member at all)
    is given back as it is; one that mentions a checksum but does not end with a valid one is
    broken either way. Raises `SealBroken`."""
    # The compact tail (every line and cache entry) has a fixed length: no regex needed.
    if raw[-_COMPACT_LENGTH:-_HEX_END] == _COMPACT_PREFIX and raw.endswith(b'"}'):
        head = raw[:-_COMPACT_LENGTH]
        if sha256_hex(head).encode() != raw[-_HEX_END - 64 : -_HEX_END]:
            raise SealBroken("its content does not match its checksum")
        return head + b"}"
    window_start = max(0, len(raw) - _TAIL_WINDOW)
    match = _TAIL_RE.search(raw, window_start)
    if match is None:
        if required:
            raise SealBroken("it carries no checksum (damaged, or written by an older quant)")
        if b'"checksum"' in raw:
            raise SealBroken("its checksum is damaged")
        return raw
    head = raw[: match.start()]
    if sha256_hex(head) != match.group(1).decode():
        raise SealBroken("its content does not match its checksum")
    return head + b"}"


def load_sealed(raw: bytes, *, required: bool = True) -> dict:
    """`unseal` then parse: the document's members as a dict (without the checksum)."""
    text = unseal(raw, required=required)
    try:
        value = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SealBroken(f"it is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise SealBroken("it is not a JSON object")
    return value
