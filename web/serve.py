"""What `rectify serve`'s uvicorn workers import: the app, built from the environment the
command set (RECTIFY_DB, RECTIFY_NOW, RECTIFY_CONFIG), as the CLI builds its Runtime."""

from __future__ import annotations

import os

from fastapi import FastAPI

from ..engine.app.runtime import Runtime
from .app import create_app


def app() -> FastAPI:
    return create_app(Runtime(db=os.environ.get("RECTIFY_DB", "sqlite:///rectify.db"),
                              now_text=os.environ.get("RECTIFY_NOW") or None,
                              config=os.environ.get("RECTIFY_CONFIG") or None))
