"""The report's figures as PNG bytes (matplotlib, Agg backend, no metadata: equal data gives
equal bytes)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display; chosen before pyplot is imported
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=90, metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def cumulative_returns(meta: pd.Series, sleeves: pd.DataFrame) -> bytes:
    figure, axis = plt.subplots(figsize=(8, 4))
    for name in sleeves.columns:
        axis.plot(sleeves.index, (1 + sleeves[name]).cumprod(), linewidth=1, alpha=0.7, label=name)
    axis.plot(meta.index, (1 + meta).cumprod(), color="black", linewidth=2, label="meta-portfolio")
    # log scale: a sleeve that grows tenfold would otherwise flatten every other line
    axis.set_yscale("log")
    axis.set_title("Cumulative growth of 1 (out of sample, log scale)")
    axis.legend(loc="upper left", fontsize=8)
    axis.grid(alpha=0.3)
    return _png(figure)


def drawdown(drawdowns: pd.Series) -> bytes:
    figure, axis = plt.subplots(figsize=(8, 2.5))
    axis.fill_between(drawdowns.index, drawdowns.to_numpy(), 0.0, color="firebrick", alpha=0.5)
    axis.set_title("Meta-portfolio drawdown")
    axis.grid(alpha=0.3)
    return _png(figure)


def bars(values: pd.Series, title: str) -> bytes:
    figure, axis = plt.subplots(figsize=(8, max(2.0, 0.3 * len(values) + 1)))
    colors = ["seagreen" if v >= 0 else "firebrick" for v in values.to_numpy()]
    axis.barh([str(i) for i in values.index][::-1], values.to_numpy()[::-1], color=colors[::-1])
    axis.set_title(title)
    axis.grid(alpha=0.3, axis="x")
    return _png(figure)


def weight_history(weights: pd.DataFrame) -> bytes:
    """Target weights of each meta rebalance, stacked, held until the next one."""
    figure, axis = plt.subplots(figsize=(8, 3))
    axis.stackplot(weights.index, weights.to_numpy().T, labels=[str(c) for c in weights.columns], step="post", alpha=0.8)
    axis.set_ylim(0, max(1.0, float(weights.sum(axis=1).max())))
    axis.set_title("Sleeve weights at each meta rebalance (decided from earlier returns only)")
    axis.legend(loc="upper left", fontsize=8)
    axis.grid(alpha=0.3)
    return _png(figure)


def correlation_heatmap(returns: pd.DataFrame) -> bytes:
    correlation = returns.corr().to_numpy()
    names = list(returns.columns)
    figure, axis = plt.subplots(figsize=(4 + 0.4 * len(names), 3 + 0.4 * len(names)))
    image = axis.imshow(correlation, vmin=-1, vmax=1, cmap="RdBu_r")
    axis.set_xticks(range(len(names)), names, rotation=45, ha="right")
    axis.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            value = correlation[i, j]
            axis.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                      color="white" if abs(value) > 0.6 else "black")
    figure.colorbar(image, ax=axis, shrink=0.8)
    axis.set_title("Sleeve correlation (out of sample)")
    return _png(figure)

