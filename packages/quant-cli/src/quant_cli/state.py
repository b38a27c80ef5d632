"""What every command needs: the global options, the SDK (built on first use) and the consoles."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import typer
from rich.console import Console

if TYPE_CHECKING:
    from quant_core.config import QuantConfig
    from quant_core.home import QuantHome
    from quant_core.sdk import QuantSDK

SdkFactory = Callable[["QuantHome"], "QuantSDK"]
"""Builds the SDK for a resolved home. `main()` uses `QuantSDK(home=home)`; tests inject a toy one."""


@dataclass
class CliState:
    sdk_factory: SdkFactory
    #: `--home` when given: it wins over QUANT_HOME and the configuration file.
    home_flag: Path | None = None
    #: `--store` and `--store-options` when given: they win over QUANT_STORE(_OPTIONS) and the file.
    store_flag: str | None = None
    store_options_flag: str | None = None
    json_output: bool = False
    debug: bool = False
    #: The run the current command started, named in failure messages ("resume it with ...").
    run_id: str | None = None
    _config: QuantConfig | None = field(default=None, repr=False)
    _sdk: QuantSDK | None = field(default=None, repr=False)
    _out: Console | None = field(default=None, repr=False)
    _err: Console | None = field(default=None, repr=False)

    def config(self) -> QuantConfig:
        """The deployment's configuration with this command line's flags over it (read on first
        use: `--help` never reads it, a broken file fails only the commands that need it)."""
        if self._config is None:
            from quant_core.config import QuantConfig

            given = {
                "home": ("--home", str(self.home_flag) if self.home_flag is not None else None),
                "store": ("--store", self.store_flag),
                "store_options": ("--store-options", self.store_options_flag),
            }
            flags = {key: flag for key, flag in given.items() if flag[1] is not None}
            self._config = QuantConfig.load(flags=flags or None)
        return self._config

    @property
    def home(self) -> QuantHome:
        return self.config().home

    def sdk(self) -> QuantSDK:
        """The SDK, built on first use so that `--help` never loads a plug-in."""
        if self._sdk is None:
            self._sdk = self.sdk_factory(self.home)
        return self._sdk

    @property
    def out(self) -> Console:
        """Human output (stdout). Bound to the stream current when first used."""
        if self._out is None:
            self._out = make_console(sys.stdout)
        return self._out

    @property
    def err(self) -> Console:
        """Progress and notes (stderr): never mixed into what a script reads from stdout."""
        if self._err is None:
            self._err = make_console(sys.stderr)
        return self._err


#: Width of tables written to a file or a pipe, where there is no terminal to fit (Rich would
#: otherwise assume 80 columns and fold every run id). `COLUMNS` still wins when set.
UNBOUNDED_WIDTH = 160


def make_console(stream: TextIO) -> Console:
    console = Console(file=stream, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = UNBOUNDED_WIDTH
    return console


def get_state(ctx: typer.Context) -> CliState:
    state = ctx.find_object(CliState)
    if state is None:  # pragma: no cover - the root callback always sets it
        raise RuntimeError("quant_cli: command invoked outside the quant app (no CliState)")
    return state
