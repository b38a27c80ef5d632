"""Executors: where and how a pipeline's steps run. `local` ships here; Ray, Prefect and DBOS
ship in their own packages and are found through the `quant.executors` entry point group."""

from quant_core.executors.base import Executor

__all__ = ["Executor"]
