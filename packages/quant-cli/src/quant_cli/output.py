"""Every command's output goes through `emit`: one JSON document with `--json`, Rich otherwise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console

from quant_cli.jsonout import write_json
from quant_cli.state import CliState


def emit(state: CliState, document: Any, draw: Callable[[Console, Any], None]) -> None:
    if state.json_output:
        write_json(document)
    else:
        draw(state.out, document)
