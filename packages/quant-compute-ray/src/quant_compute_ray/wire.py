"""What crosses Ray for one attempt: a JSON request in, a JSON outcome out, each at most
`INLINE_LIMIT` bytes whatever the universe size.

A context that grew past the limit (at N=2000 a selection context holds tens of KB of cluster
members, vetoes and atoms) travels like any other large data: the sender puts the message in the
artifact store the driver named (content-addressed, shared with every worker) and Ray carries its
`ArtifactRef`. And an outcome does not carry its output context twice: the snapshot a successful
attempt records is that same context, so it travels once.
"""

from __future__ import annotations

import json
from typing import Any

from quant_core.artifacts import JSON_MEDIA_TYPE, ArtifactRef, ArtifactStore
from quant_core.remote import AttemptOutcome

#: Messages up to this many bytes travel inline; larger ones by artifact reference.
INLINE_LIMIT = 8 * 1024
_BY_REFERENCE = "$artifact"
#: Stands in for a snapshot that is the outcome's own output context.
_SAME_AS_CONTEXT = "$context"


def pack(message: str, store: ArtifactStore) -> str:
    """`message` itself if small, else a reference to it in `store`."""
    data = message.encode()
    if len(data) <= INLINE_LIMIT:
        return message
    ref = store.put(data, JSON_MEDIA_TYPE)
    return json.dumps({_BY_REFERENCE: ref.model_dump(mode="json")}, separators=(",", ":"))


def unpack(message: str, store: ArtifactStore) -> str:
    """The message `pack` was given (read back from `store` when it travelled by reference)."""
    if not message.startswith('{"' + _BY_REFERENCE + '"'):
        return message
    ref = ArtifactRef.model_validate(json.loads(message)[_BY_REFERENCE])
    return store.get(ref).decode()


def encode_outcome(outcome: AttemptOutcome) -> str:
    data: dict[str, Any] = outcome.model_dump(mode="json")
    data["snapshots"] = [
        [name, _SAME_AS_CONTEXT if snapshot == data["context"] else snapshot] for name, snapshot in data["snapshots"]
    ]
    return json.dumps(data, separators=(",", ":"))


def decode_outcome(message: str) -> AttemptOutcome:
    data = json.loads(message)
    data["snapshots"] = [
        [name, data["context"] if snapshot == _SAME_AS_CONTEXT else snapshot] for name, snapshot in data["snapshots"]
    ]
    return AttemptOutcome.model_validate(data)
