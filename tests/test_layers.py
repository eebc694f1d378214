"""The drawing of the folders in docs/architecture.md is the one today's imports give."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

TOOL = Path(__file__).resolve().parent.parent / "tools" / "draw_layers.py"


def draw_layers() -> ModuleType:
    spec = importlib.util.spec_from_file_location("draw_layers", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_drawing_of_the_layers_in_the_architecture_document_is_up_to_date() -> None:
    tool = draw_layers()
    document = tool.DOC.read_text(encoding="utf-8")
    drawn = tool.with_drawing(document, tool.drawing(tool.import_graph()))
    assert drawn == document, "docs/architecture.md: the drawing is stale; run `make docs`"


def test_the_drawing_shows_an_import_between_folders_and_leaves_out_a_path_already_drawn() -> None:
    tool = draw_layers()
    imports = {"app": {"engine", "domain"}, "engine": {"domain"}, "domain": set()}
    assert tool.top_down(imports) == ["app", "engine", "domain"]
    assert tool.arrows(imports) == [("app", "engine"), ("engine", "domain")]
