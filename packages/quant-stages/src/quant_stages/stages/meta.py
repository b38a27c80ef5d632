"""The meta-portfolio: align sleeve returns, weight the sleeves, flatten to assets."""

from __future__ import annotations

import json

from pydantic import Field
from quant_core.context import AuditEvent, MetaContext
from quant_core.errors import DataValidationError
from quant_core.stage import Stage, StageOutputs

from quant_stages.allocation_params import BaseEngine, EngineParams

SLEEVE_RETURNS = "backtest_returns"
SLEEVE_WEIGHTS = "weights"


def _succeeded(context: MetaContext):
    results = [r for r in context.sleeve_results if r.status == "succeeded"]
    if not results:
        raise DataValidationError(
            "the meta context holds no succeeded sleeve results: run the sleeves' fan-out first", rule="missing-input"
        )
    return sorted(results, key=lambda r: r.name)


class MetaReturns(Stage[MetaContext]):
    """Align the sleeves' out-of-sample return streams, each named by its sleeve and read from the
    sleeve run recorded in the context (never "the latest run on disk"). Calendars are aligned by
    compounding the returns of days a sleeve trades but another does not into the next common
    day, never by dropping them.
    """

    id = "meta.returns"
    version = "2"  # 2: a return with nothing folded into it is kept bit for bit
    tags = ("meta",)
    context_type = MetaContext

    class Outputs(StageOutputs):
        meta_returns: dict

    def execute(self, context: MetaContext) -> MetaContext:
        from quant_stages.calendars import align_by_compounding
        from quant_stages.frames import get_series, put_frame

        streams = {}
        for result in _succeeded(context):
            ref = result.artifacts.get(SLEEVE_RETURNS)
            if ref is None:
                raise DataValidationError(
                    f"sleeve {result.name!r} (run {result.run_id}) has no {SLEEVE_RETURNS!r} artifact",
                    rule="missing-input",
                )
            streams[result.name] = get_series(self.artifacts, ref, what=f"returns of sleeve {result.name}")
        aligned = align_by_compounding(streams)
        ref = put_frame(self.artifacts, aligned.returns)
        event = AuditEvent(
            stage_id=self.SPEC.id, code="aligned",
            message=f"{len(streams)} sleeves on {len(aligned.returns)} common dates",
            data={"compounded": aligned.compounded, "outside_common_span": aligned.outside},
        )
        return context.model_copy(update={
            "meta_returns": ref, "artifacts": context.with_artifacts(meta_returns=ref),
            "audit_trail": context.with_events(event),
        })


class MetaOptimizeParams(EngineParams):
    engine: BaseEngine = Field(default="risk_parity", description="engine across sleeves")
    train: int = Field(default=126, ge=20, description="meta train window: common dates of sleeve returns each estimate uses")
    rebalance: int = Field(default=21, ge=1, description="common dates between meta rebalances")
    cost_bps: float = Field(default=10.0, ge=0.0, description="cost in basis points of the turnover between sleeves at each meta rebalance")


class MetaOptimize(Stage[MetaContext]):
    """Walk-forward weights across sleeves, like the sleeves' own backtests: at each meta
    rebalance (every `rebalance` common dates) the engine re-estimates the sleeve weights from
    the `train` common dates of sleeve returns before it, within each sleeve's min and max weight
    (from the meta profile); the meta-portfolio then holds them (drifting with the sleeves'
    returns) until the next rebalance, paying `cost_bps` on the turnover between sleeves. Its
    stitched returns (`meta_portfolio_returns`) hold only returns earned with weights decided
    before them; `meta_weight_history` holds the target weights of every rebalance, and
    `meta_weights` the current weights, estimated on the latest `train` dates (for trading now).

    Equal bounds for every sleeve go into the engine itself; distinct bounds are met by the
    Euclidean projection of the engine's weights onto the bounded simplex."""

    id = "meta.optimize"
    version = "2"  # 2: walk-forward meta weights (was: one estimate on the whole reported history)
    tags = ("meta",)
    context_type = MetaContext
    Params = MetaOptimizeParams

    class Outputs(StageOutputs):
        meta_weights: dict[str, float]
        meta_portfolio_returns: dict
        meta_weight_history: dict

    def execute(self, context: MetaContext) -> MetaContext:
        import numpy as np
        import pandas as pd

        from quant_stages.allocation import allocation_record, project_to_box, run_engine
        from quant_stages.data.returns import periods_per_year
        from quant_stages.frames import get_frame, put_frame, put_series
        from quant_stages.kernels.allocation_types import AllocationFailedError
        from quant_stages.kernels.backtest import walk_forward
        from quant_stages.kernels.constraints import WeightBounds

        p = self.params
        returns = get_frame(self.artifacts, context.meta_returns, what="meta returns (run meta.returns first)")
        if len(returns) < p.train + 1:
            raise DataValidationError(
                f"{len(returns)} common dates of sleeve returns are too few for a meta train window of "
                f"{p.train} and one date to trade: lower meta.optimize train or lengthen the sleeves' backtests",
                rule="too-short",
            )
        names = list(returns.columns)
        specs = {s.name: s for s in context.sleeves}
        lower = np.array([specs[n].min_weight if n in specs else 0.0 for n in names])
        upper = np.array([specs[n].max_weight if n in specs else 1.0 for n in names])
        uniform = bool(np.all(lower == lower[0]) and np.all(upper == upper[0]))
        bounds = WeightBounds(min_weight=float(lower[0]), max_weight=float(upper[0])) if uniform else WeightBounds()
        ppy = periods_per_year(returns)
        records: list[dict | None] = []  # None: the window fell back to equal weights
        equal_windows: list[dict] = []

        def allocate(train: pd.DataFrame) -> pd.Series:
            try:
                result = run_engine(p, train, bounds=bounds, ppy=ppy)
            # Data-dependent only (a sleeve in cash for the whole window has no variance; every
            # engine failed): equal weights within the bounds, on the record. Bounds that no
            # weights can meet are a parameter error and stop the stage.
            except (DataValidationError, AllocationFailedError) as exc:
                equal_windows.append({"train_end": train.index[-1].isoformat(), "reason": str(exc)})
                records.append(None)
                return pd.Series(project_to_box(np.full(len(names), 1.0 / len(names)), lower, upper, what="meta.optimize"), index=names)
            weights = result.weights.reindex(names).to_numpy()
            if not uniform:
                weights = project_to_box(weights, lower, upper, what="meta.optimize")
            records.append(allocation_record(result))
            return pd.Series(weights, index=names)

        history = walk_forward(
            returns, train=p.train, test=p.rebalance, allocate=allocate, cost_bps=p.cost_bps, partial_last=True,
        )
        current = allocate(returns.iloc[-p.train :])
        meta_weights = {n: float(current[n]) for n in names}
        returns_ref = put_series(self.artifacts, history.returns, "return")
        history_ref = put_frame(self.artifacts, history.weights)
        engines = sorted({r["engine"] if r else "equal_weight" for r in records})
        fallbacks = [AuditEvent(
            stage_id=self.SPEC.id, level="warning", code="equal-weight-window",
            message=f"meta window ending {w['train_end']} weighed the sleeves equally: {w['reason']}", data=w,
        ) for w in equal_windows]
        event = AuditEvent(
            stage_id=self.SPEC.id, code="weighted",
            message=(f"walk-forward {'/'.join(engines)} across {len(names)} sleeves: {len(history.windows)} rebalances "
                     f"every {p.rebalance} dates on the previous {p.train}, current weights from the last {p.train}"
                     + (" (projected onto sleeve bounds)" if not uniform else "")),
            data=(records[-1] or {"engine": "equal_weight"}) | {
                "projected": not uniform, "equal_weight_windows": len(equal_windows), "rebalances": len(history.windows),
                "first_rebalance": history.windows[0].test_start.isoformat(),
                "total_turnover": float(history.turnover.sum()), "total_costs": float(history.costs.sum()),
                "fallback_windows": sum(bool(r and r["fallbacks_tried"]) for r in records),
            },
        )
        return context.model_copy(update={
            "meta_weights": meta_weights,
            "artifacts": context.with_artifacts(meta_portfolio_returns=returns_ref, meta_weight_history=history_ref),
            "audit_trail": context.with_events(*fallbacks, event),
        })


class MetaFlatten(Stage[MetaContext]):
    """Project to asset level: asset weight = sum over sleeves of sleeve weight x the sleeve's net
    asset weight, so long and short positions in the same asset across sleeves net out. Each
    asset keeps its contributors (sleeve, sleeve weight, net weight, contribution)."""

    id = "meta.flatten"
    version = "1"
    tags = ("meta",)
    context_type = MetaContext

    class Outputs(StageOutputs):
        flattened_weights: dict

    def execute(self, context: MetaContext) -> MetaContext:
        import pandas as pd

        from quant_stages.frames import get_frame, put_frame

        if not context.meta_weights:
            raise DataValidationError("no meta weights: run meta.optimize first", rule="missing-input")
        contributions: dict[str, list[dict]] = {}
        for result in _succeeded(context):
            sleeve_weight = context.meta_weights.get(result.name, 0.0)
            table = get_frame(self.artifacts, result.artifacts.get(SLEEVE_WEIGHTS), what=f"weights of sleeve {result.name}")
            per_asset = table.groupby("symbol", sort=True)["net_weight"].sum()
            for symbol, net in per_asset.items():
                contributions.setdefault(str(symbol), []).append({
                    "sleeve": result.name, "sleeve_weight": sleeve_weight,
                    "net_weight": float(net), "contribution": sleeve_weight * float(net),
                })
        rows = []
        for symbol in sorted(contributions):
            parts = contributions[symbol]
            net = float(sum(p["contribution"] for p in parts))
            rows.append({
                "symbol": symbol, "net_weight": net,
                "gross_weight": float(sum(abs(p["contribution"]) for p in parts)),
                "direction": "long" if net > 0 else "short" if net < 0 else "flat",
                "n_sleeves": len(parts), "contributors": json.dumps(parts, sort_keys=True),
            })
        frame = pd.DataFrame(rows, columns=["symbol", "net_weight", "gross_weight", "direction", "n_sleeves", "contributors"])
        ref = put_frame(self.artifacts, frame)
        return context.model_copy(update={"flattened_weights": ref, "artifacts": context.with_artifacts(flattened_weights=ref)})
