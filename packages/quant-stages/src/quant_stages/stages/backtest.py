"""allocation.backtest: an honest walk-forward backtest of the whole selection and allocation."""

from __future__ import annotations

from typing import TYPE_CHECKING
from pydantic import Field, model_validator
from quant_core.context import AuditEvent, SelectionContext
from quant_core.errors import DataValidationError, ParamValidationError
from quant_core.stage import Stage, StageOutputs, StageParams

from quant_stages.numbers import json_safe

if TYPE_CHECKING:
    import pandas as pd

#: The stages redone on every train window, in order, with the params the pipeline ran them with.
WINDOW_STAGES = (
    "selection.features", "selection.inference", "selection.clustering",
    "selection.policy", "selection.synthesis", "allocation.optimize",
)


#: One row per window and asset listed by the window's end: who was investable, who was picked.
UNIVERSE_COLUMNS = ("train_end", "symbol", "status", "vetoes")


def universe_record(train: pd.DataFrame, window: SelectionContext) -> list[dict]:
    """The window's universe as rows of `UNIVERSE_COLUMNS`: status `selected`, `eligible` (passed
    every veto, not among the top of its cluster) or `vetoed` (with its reasons, `;`-joined)."""
    end = train.index[-1].isoformat()
    winners = set(window.winners)
    rows = []
    for symbol in train.columns:
        reasons = window.vetoes.get(symbol, [])
        status = "selected" if symbol in winners else "vetoed" if reasons else "eligible"
        rows.append({"train_end": end, "symbol": symbol, "status": status, "vetoes": ";".join(reasons)})
    return rows


def _span(counts: pd.Series) -> list[int]:
    return [int(counts.min()), int(counts.max())] if len(counts) else []


def universe_event(stage_id: str, universe: pd.DataFrame) -> AuditEvent:
    """A summary of the per-window universe (its rows are the `backtest_universe` artifact)."""
    listed = universe.groupby("train_end").size()
    vetoed = (universe["status"] == "vetoed").groupby(universe["train_end"]).sum()
    reasons = universe.loc[universe["vetoes"] != "", "vetoes"].str.split(";").explode().value_counts().sort_index()
    return AuditEvent(
        stage_id=stage_id, code="universe",
        message=f"point-in-time universe of {len(listed)} window(s), each decided on its train rows alone",
        data={"windows": len(listed), "listed_min_max": _span(listed), "vetoed_min_max": _span(vetoed),
              "veto_reasons": {str(k): int(v) for k, v in reasons.items()}},
    )


class BacktestParams(StageParams):
    train: int = Field(default=504, ge=30, description="train window length (trading dates)")
    test: int = Field(default=63, ge=1, description="test window length (trading dates)")
    step: int | None = Field(default=None, ge=1, description="distance between window starts (default: test)")
    cost_bps: float = Field(default=10.0, ge=0.0, description="transaction cost in basis points of turnover")
    delisting_return: float = Field(default=-0.30, ge=-1.0, le=1.0, description="return of a holding on the date its asset counts as delisted (0: closes at its last price)")
    delisting_after: int = Field(default=5, ge=1, description="dates of its calendar without a trade after which an asset counts as delisted")

    @model_validator(mode="after")
    def _no_overlap(self) -> BacktestParams:
        if self.step is not None and self.step < self.test:
            raise ValueError(f"step={self.step} < test={self.test} would trade overlapping test windows")
        return self


class Backtest(Stage[SelectionContext]):
    """Walk-forward backtest (Pardo 2008): on each window the selection stages and the allocation
    are recomputed from the train window alone, with the very params this run used for them;
    then the test window is traded, weights drifting with returns between rebalances, and costs
    are charged in basis points of turnover at each rebalance. Metrics come from the stitched
    out-of-sample returns only, annualised by the portfolio's calendar.

    A window whose selection vetoes everything, selects too few positions for the weight caps, or
    whose allocation fails in every engine of its fallback chain holds cash, and the audit trail
    says so (the summary counts `cash_windows`).

    Delistings: a held asset that has not traded for `delisting_after` dates of its calendar
    counts as delisted on the last of them (when its absence is known, never earlier); the
    holding earns `delisting_return` that day (default -30%, about the average performance
    delisting return Shumway 1997 measured on NYSE/AMEX) and its proceeds stay in cash until the
    next rebalance. Each one is a `delisted` audit event; the summary counts `delistings`.
    """

    id = "allocation.backtest"
    version = "3"  # 2: point-in-time universe per window; 3: delisting returns
    tags = ("allocation", "backtest")
    context_type = SelectionContext
    Params = BacktestParams

    class Outputs(StageOutputs):
        backtest: dict

    def execute(self, context: SelectionContext) -> SelectionContext:
        import pandas as pd

        from quant_stages.data.returns import SEVEN_DAY_PERIODS, periods_per_year
        from quant_stages.frames import TransientStore, get_frame, put_frame, put_series
        from quant_stages.kernels.allocation_types import AllocationFailedError
        from quant_stages.kernels.backtest import delisting_flags, walk_forward
        from quant_stages.kernels.metrics import performance_metrics
        from quant_stages.stages import STAGE_CLASSES  # the catalogue imports this module
        from quant_stages.stages.inputs import candidate_table, candidates_of, returns_of

        p = self.params
        returns = returns_of(self.artifacts, context)
        returns = returns.loc[returns.notna().any(axis=1)]  # dates on which nothing trades carry no return
        if len(returns) < p.train + p.test:
            raise DataValidationError(
                f"{len(returns)} trading dates are fewer than train + test = {p.train + p.test}",
                column=None, rule="too-short",
            )
        cash_windows: list[dict] = []
        universe_rows: list[dict] = []
        scratch = TransientStore(self.artifacts)

        def allocate(train: pd.DataFrame) -> pd.Series:
            # The point-in-time universe: assets listed by the window's end (one observation in
            # its train rows at least); the policy's vetoes (coverage, staleness, history,
            # liquidity, ...) are then computed by the window's own stages on these rows alone.
            train = train.loc[:, train.notna().to_numpy().any(axis=0)]
            window = SelectionContext(run_id=context.run_id, profile=context.profile, raw_pool=context.raw_pool,
                                      returns=put_frame(scratch, train))
            try:
                for stage_id in WINDOW_STAGES:
                    params = context.params.get(stage_id, {})
                    window = STAGE_CLASSES[stage_id](artifacts=scratch, **params).execute(window)
                    if stage_id == "selection.policy":
                        universe_rows.extend(universe_record(train, window))
            # Data-dependent failures only: the params themselves already ran on the full sample
            # (allocation.optimize precedes this stage), so an infeasible cap here means this
            # window selected too few positions for it.
            except (DataValidationError, AllocationFailedError, ParamValidationError) as exc:
                cash_windows.append({"train_end": train.index[-1].isoformat(), "reason": str(exc)})
                return pd.Series(dtype="float64")
            table = get_frame(scratch, window.weights, what="window weights")
            return table.groupby("symbol", sort=True)["net_weight"].sum()

        asset_classes = candidate_table(candidates_of(self.artifacts, context))["asset_class"].to_dict()
        seven_day = periods_per_year(returns, asset_classes) == SEVEN_DAY_PERIODS
        result = walk_forward(
            returns, train=p.train, test=p.test, step=p.step or p.test, allocate=allocate, cost_bps=p.cost_bps,
            delisted=delisting_flags(returns, seven_day, p.delisting_after), delisting_return=p.delisting_return,
        )
        stitched = result.returns.rename("return")
        ppy = float(periods_per_year(stitched.to_frame()).iloc[0])
        metrics = performance_metrics(stitched, ppy, turnover=result.turnover, costs=result.costs)
        returns_ref = put_series(self.artifacts, stitched, "return")
        weights_ref = put_frame(self.artifacts, result.weights)
        universe = pd.DataFrame(universe_rows, columns=list(UNIVERSE_COLUMNS))
        universe_ref = put_frame(self.artifacts, universe)
        events = [universe_event(self.SPEC.id, universe)] + [AuditEvent(
            stage_id=self.SPEC.id, level="warning", code="cash-window",
            message=f"window ending {w['train_end']} held cash: {w['reason']}", data=w,
        ) for w in cash_windows]
        if result.delistings:
            events.append(AuditEvent(
                stage_id=self.SPEC.id, level="warning", code="delisted",
                message=(f"{len(result.delistings)} holding(s) closed at {p.delisting_return:+.0%} after "
                         f"{p.delisting_after} dates without a trade"),
                data={"delisting_return": p.delisting_return, "delisting_after": p.delisting_after, "holdings": [
                    {"date": d.date.isoformat(), "symbol": d.symbol, "weight": d.weight} for d in result.delistings
                ]},
            ))
        summary = json_safe(metrics) | {
            "windows": len(result.windows), "cash_windows": len(cash_windows),
            "start": stitched.index[0].isoformat(), "end": stitched.index[-1].isoformat(),
            "periods_per_year": ppy, "cost_bps": p.cost_bps,
            "delistings": len(result.delistings), "delisting_return": p.delisting_return,
        }
        return context.model_copy(update={
            "backtest": summary,
            "artifacts": context.with_artifacts(
                backtest_returns=returns_ref, backtest_weights=weights_ref, backtest_universe=universe_ref,
            ),
            "audit_trail": context.with_events(*events),
        })
