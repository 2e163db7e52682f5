"""The layers of docs/architecture.md hold in the code: every import runs down, none in a circle.

The imports are read from the source (every `import` statement, those inside functions too, so a
lazy import cannot hide a dependency). Floors, top down: `esl_dagster.definitions`, then `defs`,
then `resources` and `stack`, then the engine `pipeline`; a part imports only parts on lower
floors. The engine imports neither Dagster nor FastAPI; the API shim imports no part of
`esl_dagster` (nor Dagster: it speaks GraphQL) and no part of `esl_dagster` imports the shim.
`esl_common` (JSON log lines, OpenTelemetry set-up) lies below both and imports neither of them,
nor Dagster nor FastAPI.
"""

import ast
import functools
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("esl_dagster", "api_shim", "esl_common")
FLOOR = {
    "esl_dagster.definitions": 4,
    "esl_dagster.defs": 3,
    "esl_dagster.resources": 2,
    "esl_dagster.stack": 2,
    "esl_dagster.pipeline": 1,
}
ENGINE_MAY_NOT_IMPORT = {"dagster", "dagster_graphql", "dagster_postgres", "fastapi", "starlette"}
SHIM_MAY_NOT_IMPORT = {"dagster", "dagster_graphql", "dagster_postgres", "esl_dagster"}
COMMON_MAY_NOT_IMPORT = ENGINE_MAY_NOT_IMPORT | {"esl_dagster", "api_shim"}


@functools.cache
def modules() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of the product packages."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported_names(path: Path) -> Iterator[str]:
    """Every module name an import statement of the file names (`from a import b`: a and a.b)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module, f"{path}: relative import"
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def own_module(name: str) -> str | None:
    """The product module an imported name resolves to (a name of it, or a submodule)."""
    while name and name not in modules():
        name = name.rpartition(".")[0]
    return name or None


@functools.cache
def import_graph() -> dict[str, frozenset[str]]:
    """Module -> the product modules it imports (its own parent packages left out)."""
    graph = {}
    for name, path in modules().items():
        targets = {own_module(imported) for imported in imported_names(path)}
        graph[name] = frozenset(
            target
            for target in targets
            if target is not None and target != name and not name.startswith(f"{target}.")
        )
    return graph


def part_of(module: str) -> str | None:
    if module.startswith(("api_shim", "esl_common")):
        return module.partition(".")[0]
    return next((part for part in FLOOR if module == part or module.startswith(f"{part}.")), None)


def floor_of(module: str) -> int:
    part = part_of(module)
    return FLOOR[part] if part in FLOOR else 0


def test_every_module_belongs_to_a_part() -> None:
    loose = [m for m in modules() if m != "esl_dagster" and part_of(m) is None]
    assert loose == []
    assert len(modules()) > 100  # the walk found the tree


def test_every_import_between_parts_runs_down() -> None:
    upward = [
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        if module != "esl_dagster"
        for target in targets
        if part_of(module) != part_of(target)
        and part_of(target) != "esl_common"
        and (
            "api_shim" in (part_of(module), part_of(target)) or floor_of(module) <= floor_of(target)
        )
    ]
    assert upward == []


def test_the_engine_and_the_shim_import_no_framework_they_must_not() -> None:
    offenders = []
    for module, path in modules().items():
        forbidden = (
            ENGINE_MAY_NOT_IMPORT
            if module.startswith("esl_dagster.pipeline")
            else SHIM_MAY_NOT_IMPORT
            if module.startswith("api_shim")
            else COMMON_MAY_NOT_IMPORT
            if module.startswith("esl_common")
            else set()
        )
        offenders += [
            f"{module} imports {name}"
            for name in imported_names(path)
            if name.split(".")[0] in forbidden
        ]
    assert offenders == []


def test_no_modules_import_each_other_in_a_circle() -> None:
    graph = import_graph()
    circles = []
    for start in graph:
        # A circle through `start`: a path from one of its imports back to it.
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            module = todo.pop()
            if module == start:
                circles.append(start)
                break
            if module not in seen:
                seen.add(module)
                todo.extend(graph.get(module, ()))
    assert circles == []


def test_every_product_package_ships_in_the_wheel() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert sorted(shipped) == sorted(PACKAGES)
