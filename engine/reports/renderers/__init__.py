"""One renderer per weekly-report format: md, html, csv (text) and xlsx (a file).

Each module lays out the neutral model (`reports/model.py`) and knows nothing of the others;
`reports/render.py` picks one by format name.
"""
