"""Dependencies the routes declare, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from dlgrader.api.errors import ApiError
from dlgrader.api.runtime import GradingPool
from dlgrader.config import Settings
from dlgrader.corpus.loader import Bank
from dlgrader.loader import BackgroundLoader
from dlgrader.service import Grader

RETRY_WHILE_LOADING_S = 2


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_holder(request: Request) -> BackgroundLoader:
    return request.app.state.holder


def get_bank(request: Request) -> Bank:
    """The question bank: loaded at start-up, before the model, so browsing never waits for it."""
    holder: BackgroundLoader = request.app.state.holder
    if holder.grader is not None:
        return holder.grader.bank
    bank: Bank | None = getattr(request.app.state, "bank", None)
    if bank is None:
        raise not_ready(holder)
    return bank


def get_grader(holder: Annotated[BackgroundLoader, Depends(get_holder)]) -> Grader:
    """The loaded Grader, or 503 while it loads (or when loading failed)."""
    if holder.grader is not None:
        return holder.grader
    raise not_ready(holder)


def get_pool(request: Request) -> GradingPool:
    return request.app.state.pool


def not_ready(holder: BackgroundLoader) -> ApiError:
    if holder.state == "failed":
        return ApiError(503, "load_failed", f"The model and index failed to load: {holder.error}. "
                        "Fix the configuration and restart the service.", {"state": "failed"})
    return ApiError(503, "not_ready", "The model and index are still loading; retry in a few seconds.",
                    {"state": "loading"}, headers={"Retry-After": str(RETRY_WHILE_LOADING_S)})


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
HolderDep = Annotated[BackgroundLoader, Depends(get_holder)]
BankDep = Annotated[Bank, Depends(get_bank)]
GraderDep = Annotated[Grader, Depends(get_grader)]
PoolDep = Annotated[GradingPool, Depends(get_pool)]
