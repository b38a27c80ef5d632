"""selection.synthesis: strategy atoms, the composition map and the atoms' return streams."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from quant_core.context import SelectionContext
from quant_core.errors import DataValidationError
from quant_core.stage import Stage, StageOutputs, StageParams


#: Symbols are `EXCHANGE:TICKER` and may hold '_' and ':' but never '|', so ids split back safely.
ATOM_SEPARATOR = "|"


def atom_id(symbol: str, logic: str, direction: str) -> str:
    return ATOM_SEPARATOR.join((symbol, logic, direction))


def parse_atom_id(value: str) -> tuple[str, str, str]:
    symbol, logic, direction = value.rsplit(ATOM_SEPARATOR, 2)
    return symbol, logic, direction


class SynthesisParams(StageParams):
    logic: Literal["buy_and_hold"] = Field(default="buy_and_hold", description="how an atom trades its asset")


class Synthesis(Stage[SelectionContext]):
    """Turn winners into strategy atoms (asset, logic, direction), the composition map
    (atom -> {asset: +1 or -1}) and the atoms' return streams (direction x asset returns, gaps
    kept as gaps). Atom ids are `symbol|logic|direction`, unambiguous for any symbol.
    """

    id = "selection.synthesis"
    version = "1"
    tags = ("selection",)
    context_type = SelectionContext
    Params = SynthesisParams

    class Outputs(StageOutputs):
        strategy_atoms: list[dict]
        composition_map: dict[str, dict[str, int]]

    def execute(self, context: SelectionContext) -> SelectionContext:
        import pandas as pd

        from quant_stages.frames import put_frame
        from quant_stages.stages.inputs import candidate_table, candidates_of, returns_of

        if not context.winners:
            raise DataValidationError(
                "no winners to synthesise: the policy vetoed every candidate (see the vetoes)",
                rule="no-winners",
            )
        table = candidate_table(candidates_of(self.artifacts, context))
        returns = returns_of(self.artifacts, context, columns=sorted(context.winners))
        atoms, composition, streams = [], {}, {}
        for symbol in sorted(context.winners):
            direction = str(table.at[symbol, "direction"])
            sign = -1 if direction == "short" else 1
            identifier = atom_id(symbol, self.params.logic, direction)
            atoms.append({"id": identifier, "asset": symbol, "logic": self.params.logic, "direction": direction})
            composition[identifier] = {symbol: sign}
            streams[identifier] = returns[symbol] * sign
        frame = pd.DataFrame(streams, index=returns.index)
        ref = put_frame(self.artifacts, frame)
        return context.model_copy(update={
            "strategy_atoms": atoms, "composition_map": composition,
            "artifacts": context.with_artifacts(atom_returns=ref),
        })
