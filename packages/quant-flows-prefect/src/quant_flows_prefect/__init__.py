"""quant on Prefect 3: flows generated from pipeline specs, the `prefect` executor, deployments.

    from quant_flows_prefect import build_flow, meta_flow
    build_flow("portfolio.full")(profile="demo_equities")
    meta_flow(profile="demo")                       # meta.full: sleeves as concurrent tasks

Names load on first use (importing the package imports neither Prefect nor any stage).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from quant_flows_prefect.executor import PrefectExecutor
    from quant_flows_prefect.flows import build_flow

#: The seed's flows, generated from the registered pipelines of the same role.
GENERATED_FLOWS = {"selection_flow": "selection.full", "portfolio_flow": "portfolio.full", "meta_flow": "meta.full"}

__all__ = ["PrefectExecutor", "build_flow", *GENERATED_FLOWS]


def __getattr__(name: str) -> Any:
    if name == "build_flow":
        from quant_flows_prefect.flows import build_flow

        return build_flow
    if name == "PrefectExecutor":
        from quant_flows_prefect.executor import PrefectExecutor

        return PrefectExecutor
    if name in GENERATED_FLOWS:
        from quant_flows_prefect.flows import build_flow

        return build_flow(GENERATED_FLOWS[name])
    raise AttributeError(f"module 'quant_flows_prefect' has no attribute {name!r}")
