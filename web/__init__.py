"""The front door: an ASGI app (FastAPI on uvicorn) with pages for staff and a JSON API, over
the same database and use cases as the CLI. `create_app` in `web/app.py` builds it."""
