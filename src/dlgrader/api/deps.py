"""Dependencies the routes declare, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from dlgrader.api.errors import ApiError
from dlgrader.api.runtime import GraderHolder, GradingPool
from dlgrader.config import Settings
from dlgrader.service import Grader

RETRY_WHILE_LOADING_S = 2


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_holder(request: Request) -> GraderHolder:
    return request.app.state.holder  # type: ignore[no-any-return]


def get_grader(holder: Annotated[GraderHolder, Depends(get_holder)]) -> Grader:
    """The loaded Grader, or 503 while it loads (or when loading failed)."""
    if holder.grader is not None:
        return holder.grader
    raise not_ready(holder)


def get_pool(request: Request) -> GradingPool:
    return request.app.state.pool  # type: ignore[no-any-return]


def not_ready(holder: GraderHolder) -> ApiError:
    if holder.state == "failed":
        return ApiError(503, "load_failed", f"The model and index failed to load: {holder.error}. "
                        "Fix the configuration and restart the service.", {"state": "failed"})
    return ApiError(503, "not_ready", "The model and index are still loading; retry in a few seconds.",
                    {"state": "loading"}, headers={"Retry-After": str(RETRY_WHILE_LOADING_S)})


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
HolderDep = Annotated[GraderHolder, Depends(get_holder)]
GraderDep = Annotated[Grader, Depends(get_grader)]
PoolDep = Annotated[GradingPool, Depends(get_pool)]
