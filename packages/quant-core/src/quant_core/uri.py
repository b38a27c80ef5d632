"""`quant://` URIs name a stage or a pipeline with its run id, profile and params.

    quant://selection/clustering?run_id=abc&profile=demo&distance_threshold=0.4
    quant://pipeline/meta.full?profile=demo

Values stay text here; they are coerced by the stage's input schema when the URI is run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, quote, urlsplit

from quant_core.errors import URIError

SCHEME = "quant"
PIPELINE_HOST = "pipeline"
#: Query keys that are not parameters.
RESERVED_KEYS = ("run_id", "profile", "executor")
_SEGMENT = re.compile(r"^[a-z][a-z0-9_]*$")
_TARGET = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
#: Characters left as they are in query values: legal in a query (RFC 3986) and without meaning
#: to `parse_qsl`, so paths (`data/c.json`), lists (`a,b`) and times stay readable. `&`, `=`,
#: `+`, `#`, `%` and `?` are always percent-encoded.
_VALUE_SAFE = "/:,@"


@dataclass(frozen=True)
class QuantURI:
    kind: Literal["stage", "pipeline"]
    target: str
    run_id: str | None = None
    profile: str | None = None
    executor: str | None = None
    params: dict[str, str] = field(default_factory=dict)


def parse_uri(uri: str) -> QuantURI:
    if not isinstance(uri, str) or not uri:
        raise URIError(f"not a quant URI: {uri!r}", param="uri", value=uri, rule="scheme")
    parts = urlsplit(uri)
    if parts.scheme != SCHEME:
        raise URIError(
            f"URI {uri!r} must start with '{SCHEME}://' (got scheme {parts.scheme!r})",
            param="uri", value=uri, rule="scheme",
        )
    if parts.fragment:
        raise URIError(f"URI {uri!r}: fragments ('#...') are not allowed", param="uri", value=uri, rule="fragment")
    host = parts.netloc
    name = parts.path.lstrip("/")
    if not host:
        raise URIError(f"URI {uri!r} names no namespace: expected quant://<namespace>/<name>", param="uri", value=uri, rule="namespace")
    if not name:
        raise URIError(f"URI {uri!r} names no stage or pipeline after the namespace: expected quant://{host}/<name>", param="uri", value=uri, rule="name")
    if host == PIPELINE_HOST:
        kind: Literal["stage", "pipeline"] = "pipeline"
        target = name
    else:
        if not _SEGMENT.match(host):
            raise URIError(f"URI {uri!r}: namespace {host!r} must be lowercase letters, digits or '_'", param="uri", value=uri, rule="namespace")
        kind = "stage"
        target = f"{host}.{name.replace('/', '.')}"
    if not _TARGET.match(target) or "." not in target:
        raise URIError(f"URI {uri!r}: {target!r} is not a valid {kind} id", param="uri", value=uri, rule="name")
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise URIError(f"URI {uri!r}: malformed query ({exc})", param="uri", value=uri, rule="query") from None
    seen: dict[str, str] = {}
    for key, value in pairs:
        if key in seen:
            raise URIError(f"URI {uri!r}: query key {key!r} is repeated", param=key, value=value, rule="repeated")
        if not key:
            raise URIError(f"URI {uri!r}: empty query key", param="uri", value=uri, rule="query")
        seen[key] = value
    reserved = {k: seen.pop(k) for k in RESERVED_KEYS if k in seen}
    return QuantURI(kind=kind, target=target, params=seen, **reserved)


def to_uri(parsed: QuantURI) -> str:
    if parsed.kind == "pipeline":
        head = f"{SCHEME}://{PIPELINE_HOST}/{parsed.target}"
    else:
        namespace, name = parsed.target.split(".", 1)
        head = f"{SCHEME}://{namespace}/{name}"
    pairs = [(k, getattr(parsed, k)) for k in RESERVED_KEYS if getattr(parsed, k) is not None]
    pairs += list(parsed.params.items())
    if not pairs:
        return head
    return head + "?" + "&".join(f"{quote(k, safe='')}={quote(str(v), safe=_VALUE_SAFE)}" for k, v in pairs)
