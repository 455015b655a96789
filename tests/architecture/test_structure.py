"""The shape of the code: layers that import one way, one composition root, one configuration table."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from tribe.settings import table

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("events", "reducers", "projections", "services", "api", "replay", "tribe", "schemas")


def _imports(path: Path) -> set[str]:
    """The modules a file imports, by their full dotted names (relative imports resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _modules() -> dict[str, set[str]]:
    """Every module of the core packages, with what it imports."""
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = _imports(path)
    return modules


def _package_graph(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {p: set() for p in PACKAGES}
    for name, imported in modules.items():
        source = name.split(".")[0]
        graph[source].update(
            i.split(".")[0] for i in imported if i.split(".")[0] in PACKAGES and i.split(".")[0] != source
        )
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle in the graph as a path that comes back to its start, or None."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt, [*path, nxt])):
                return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a"}}) is None


def test_no_import_cycle_between_top_level_packages() -> None:
    cycle = _cycle(_package_graph(_modules()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_pure_core_imports_no_edge() -> None:
    """Reducers import nothing but events; services know no HTTP; nothing but tribe knows the adapters."""
    graph = _package_graph(_modules())
    assert graph["reducers"] <= {"events"}
    assert graph["events"] <= {"schemas"}
    assert "api" not in graph["services"] and "tribe" not in graph["services"]
    for package in PACKAGES:
        if package != "tribe":
            assert "tribe" not in graph[package], f"{package} imports tribe (the CLI and composition root)"


def test_one_composition_root_builds_the_adapters() -> None:
    """Only tribe/bootstrap.py constructs adapters (tests and benchmarks aside)."""
    builders = re.compile(r"\b(SqliteLog|SqliteStore|KafkaLog|ElasticsearchStore(?:\.from_url)?)\(")
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "bootstrap.py" or path.parent.name == "adapters":
                continue
            assert not builders.search(path.read_text()), f"{path.relative_to(ROOT)} builds an adapter"


def test_no_handler_appends_or_queries_the_store() -> None:
    """Handlers under api/ call services; the log and the store are reached only through them."""
    for path in (ROOT / "api").glob("*.py"):
        imported = _imports(path)
        assert not {i for i in imported if i.split(".")[0] in ("projections", "reducers")}, path
        assert not {i for i in imported if i.startswith(("events.adapters", "events.routing", "events.log.Log"))}, path
        text = path.read_text()
        for reach in (".writer.", ".reads.", ".social.", ".store."):
            assert reach not in text, f"{path.relative_to(ROOT)} reaches past the services ({reach})"


def test_only_the_composition_root_installs_a_topology() -> None:
    """Partition counts are installed per process from Settings by tribe/bootstrap.py alone (tests aside)."""
    reached: dict[str, int] = {}
    for path in [p for package in (*PACKAGES, "bench") for p in (ROOT / package).rglob("*.py")]:
        if path == ROOT / "events" / "routing.py":
            continue
        names = [
            node
            for node in ast.walk(ast.parse(path.read_text(), str(path)))
            if (isinstance(node, ast.Name) and node.id == "use_topology")
            or (isinstance(node, ast.Attribute) and node.attr == "use_topology")
        ]
        if names:
            reached[str(path.relative_to(ROOT))] = len(names)
    assert reached == {"tribe/bootstrap.py": 1}, f"use_topology is reached from {reached}"


def test_the_readme_shows_the_configuration_table_of_the_code() -> None:
    readme = (ROOT / "README.md").read_text()
    assert table() in readme, "README.md's configuration table differs from tribe.settings.table(); paste it again"


def test_every_package_is_installed() -> None:
    """`pip install .` ships every package: a missing one imports under pytest (from the checkout) and nowhere else."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    installed = set(config["tool"]["setuptools"]["packages"])
    present = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for package in PACKAGES
        for init in (ROOT / package).rglob("__init__.py")
    }
    assert present <= installed, f"not in [tool.setuptools] packages: {sorted(present - installed)}"


def test_the_configuration_table_is_written_once() -> None:
    """Only the README copies the table; other documents point at it (a second copy drifts)."""
    for path in (ROOT / "docs").glob("*.md"):
        rows = [line for line in path.read_text().splitlines() if line.startswith("| `TRIBE_")]
        assert len(rows) < 2, f"{path.relative_to(ROOT)} repeats rows of the configuration table: {rows[:2]}"
