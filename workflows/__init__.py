"""The bundled workflow definitions, found beside this file after any kind of install."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
BUNDLED = ("rectification", "identification", "exit")


def bundled_files() -> list[Path]:
    return [HERE / f"{name}.yaml" for name in BUNDLED if (HERE / f"{name}.yaml").exists()]


def bundled(name: str) -> Path | None:
    path = HERE / f"{name}.yaml"
    return path if name in BUNDLED and path.exists() else None
