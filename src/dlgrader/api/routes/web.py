"""The web practice app: ``GET /`` (the page) and ``GET /static/<file>`` (its script and styles), all served
from the package (``dlgrader/web``): nothing comes from a CDN, nothing needs a build step or the network.

The page reads its settings (the answer limit, whether the server wants an API key) from a JSON block the
server writes into it, so the browser can refuse an over-long answer before sending it.
"""

from __future__ import annotations

import json
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from dlgrader import __version__
from dlgrader.api.deps import SettingsDep
from dlgrader.api.errors import ApiError

router = APIRouter(include_in_schema=False)

ASSETS = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
CONFIG_MARK = "<!--DLGRADER_CONFIG-->"


def _asset(name: str) -> str:
    return resources.files("dlgrader").joinpath("web", name).read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse)
async def index(settings: SettingsDep) -> HTMLResponse:
    config = {"max_answer_chars": settings.max_answer_chars, "keys_required": bool(settings.api_key_set),
              "version": __version__}
    # "</" cannot end the script element early: json.dumps output is escaped for it.
    block = ('<script id="dlgrader-config" type="application/json">'
             + json.dumps(config).replace("</", "<\\/") + "</script>")
    return HTMLResponse(_asset("index.html").replace(CONFIG_MARK, block),
                        headers={"Cache-Control": "no-cache"})


@router.get("/static/{name}")
async def static(name: str) -> Response:
    if name not in ASSETS:
        raise ApiError(404, "not_found", f"No such file: /static/{name}.", {})
    return Response(_asset(name), media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})
