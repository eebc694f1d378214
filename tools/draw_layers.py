"""Draw consultbot's folders and their imports (from grimp's import graph) in docs/architecture.md.

    python tools/draw_layers.py           write the drawing between the markers (`make docs`)
    python tools/draw_layers.py --check   exit 1 when the drawing in the document is stale

The picture is the top level: an arrow is drawn only where no longer path already leads, so
every import of one part by another follows the arrows. The list under it is exact: for every
folder, which of its parts (sub-folders and modules) import which, the importing ones first.
tests/test_layers.py fails when the document's drawing is not the one the code gives.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

import grimp

PACKAGE = "consultbot"
DOC = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"
BEGIN = "<!-- layers: drawn by tools/draw_layers.py (`make docs`), not by hand -->"
END = "<!-- layers: end -->"

Imports = dict[str, set[str]]


def import_graph() -> grimp.ImportGraph:
    """The package's import graph as the code has it now."""
    return grimp.build_graph(PACKAGE, cache_dir=None)


def part_imports(graph: grimp.ImportGraph, folder: str) -> Imports:
    """Each part of `folder` (a module or a sub-folder, with all it holds) → the parts it
    imports."""
    parts = graph.find_children(folder)
    return {
        a: {
            b
            for b in parts
            if b != a and graph.direct_import_exists(importer=a, imported=b, as_packages=True)
        }
        for a in parts
    }


def top_down(imports: Imports) -> list[str]:
    """The parts, each before everything it imports (by the longest path below it), by name
    within a level."""

    @cache
    def height(part: str, seen: frozenset[str] = frozenset()) -> int:
        below = [height(b, seen | {part}) for b in imports[part] if b not in seen]
        return 1 + max(below, default=-1)

    return sorted(imports, key=lambda part: (-height(part), part))


def arrows(imports: Imports) -> list[tuple[str, str]]:
    """The imports not implied by a longer path (the transitive reduction)."""

    def reaches(start: str, goal: str) -> bool:
        stack, seen = [start], {start}
        while stack:
            for b in imports[stack.pop()]:
                if b == goal:
                    return True
                if b not in seen:
                    seen.add(b)
                    stack.append(b)
        return False

    order = top_down(imports)
    return [
        (a, b)
        for a in order
        for b in order
        if b in imports[a] and not any(reaches(c, b) for c in imports[a] - {b})
    ]


def drawing(graph: grimp.ImportGraph) -> str:
    """The Markdown between the markers: a mermaid picture of the top level and the list."""

    def label(module: str) -> str:
        name = module.rsplit(".", 1)[1]
        return f"{name}/" if graph.find_children(module) else f"{name}.py"

    def node(module: str) -> str:
        return "n" + module.rsplit(".", 1)[1].strip("_")

    top = part_imports(graph, PACKAGE)
    lines = ["```mermaid", "flowchart TD"]
    lines += [f'    {node(m)}["{label(m)}"]' for m in top_down(top)]
    lines += [f"    {node(a)} --> {node(b)}" for a, b in arrows(top)]
    lines += ["```", "", "```"]
    folders = sorted(m for m in graph.modules if graph.find_children(m))
    for folder in folders:
        imports = part_imports(graph, folder)
        lines.append(folder.replace(".", "/") + "/")
        width = max(len(label(m)) for m in imports)
        order = top_down(imports)
        for part in order:
            used = " ".join(label(m) for m in order if m in imports[part])
            lines.append(f"  {label(part):<{width}}  → {used}" if used else f"  {label(part)}")
    lines.append("```")
    return "\n".join(lines)


def with_drawing(document: str, drawn: str) -> str:
    """`document` with `drawn` between the markers."""
    head, rest = document.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{drawn}\n{END}{tail}"


def main(argv: list[str]) -> int:
    document = DOC.read_text(encoding="utf-8")
    wanted = with_drawing(document, drawing(import_graph()))
    if "--check" in argv:
        if wanted != document:
            print(f"{DOC}: the drawing of the layers is stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
