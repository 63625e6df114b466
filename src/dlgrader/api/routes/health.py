"""``/healthz`` (the process is alive) and ``/readyz`` (the model and index are loaded)."""

from __future__ import annotations

from fastapi import APIRouter

from dlgrader.api.deps import HolderDep, not_ready
from dlgrader.api.routes.examples import ok
from dlgrader.api.schemas import ErrorOut, Health, Ready

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, responses=ok({"status": "ok"}))
async def healthz() -> Health:
    """Liveness: answers as soon as the process serves HTTP, even while the model loads."""
    return Health()


@router.get("/readyz", response_model=Ready, responses={
    **ok({"status": "ready", "questions": 141, "model": "all-MiniLM-L6-v2-onnx-int8", "backend": "onnx"}),
    503: {"model": ErrorOut, "description": "Still loading (`not_ready`) or loading failed (`load_failed`)."},
})
async def readyz(holder: HolderDep) -> Ready:
    """Readiness: 200 once the model and index are loaded, 503 until then."""
    grader = holder.grader
    if grader is None:
        raise not_ready(holder)
    return Ready(questions=len(grader.bank), model=grader.embedder.model_id, backend=grader.embedder.backend)
