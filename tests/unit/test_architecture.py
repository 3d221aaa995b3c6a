"""The layers, checked from the source: every import in ``src/`` (at the top of a module,
inside a function, or only for type checking) goes down the layers, never round in a
cycle; the domain is pure; no class is built from more than two bases."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import chainledger

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "chainledger"

# Each layer may import the layers before it (and itself), never one after it.
LAYERS = (
    ("errors", "__init__"),
    ("domain",),
    ("adapters",),
    ("projections",),
    ("application",),
    ("bootstrap", "report_html"),
    ("service",),
    ("tools",),
    ("cli",),
    ("__main__",),
)
# What the pure domain may import besides itself: the standard library, canonical JSON
# (RFC 8785) and the one error hierarchy.
DOMAIN_MAY_IMPORT = {"rfc8785", "chainledger.errors"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports(path: Path, known: dict[str, Path]) -> Iterator[str]:
    """Every module ``path`` imports, wherever the import statement stands."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:  # ``from package import module`` imports the module
                full = f"{target}.{alias.name}"
                yield full if full in known else target


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {dep for dep in imports(path, known) if dep in known and dep != name}
            for name, path in known.items()}  # fmt: skip


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def layer_of(module: str) -> int:
    part = module.split(".")[1] if "." in module else "__init__"
    for rank, names in enumerate(LAYERS):
        if part in names:
            return rank
    raise AssertionError(f"{module} is in no layer: add its folder to LAYERS")


def test_the_cycle_finder_finds_a_cycle() -> None:
    """(So that the next test cannot pass by finding nothing.)"""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_anywhere_in_src() -> None:
    edges = graph()
    assert len(edges) > 50  # every module was read
    assert cycles(edges) == []


def test_every_import_goes_down_the_layers() -> None:
    upward = [f"{module} imports {dep}" for module, deps in graph().items() for dep in deps
              if layer_of(dep) > layer_of(module)]  # fmt: skip
    assert upward == []


def test_the_domain_imports_only_the_standard_library_and_itself() -> None:
    known = modules()
    stdlib = set(sys.stdlib_module_names)
    impure = [
        f"{name} imports {dep}"
        for name, path in known.items()
        if name.startswith("chainledger.domain")
        for dep in imports(path, known)
        if dep.split(".")[0] not in stdlib | {"__future__"}
        and not dep.startswith("chainledger.domain")
        and dep not in DOMAIN_MAY_IMPORT
    ]
    assert impure == []


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=module_name)
def test_no_class_has_more_than_two_bases(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    wide = [node.name for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef) and len(node.bases) > 2]  # fmt: skip
    assert wide == []


def test_each_use_case_belongs_to_one_service_and_none_is_the_cores() -> None:
    """The façade answers each name from the one service that defines it (the core's own
    names first: so no use case may share a name with the core)."""
    from chainledger.application.ledger import LedgerCore
    from chainledger.bootstrap import SERVICES, routes, service_class

    found = routes()  # raises on a name two services define
    for attribute in SERVICES:
        for name in vars(service_class(attribute)):
            if not name.startswith("__"):
                assert found[name] == attribute
                assert not hasattr(LedgerCore, name), f"{attribute}.{name} is the core's too"


def test_the_event_registry_names_every_module_that_declares_events() -> None:
    """``registered()`` loads the modules in ``DECLARING_MODULES``; an event type declared
    anywhere else would be unreadable to a command that had not imported its module."""
    from chainledger.domain.events import DECLARING_MODULES

    domain = Path(chainledger.__file__).parent / "domain"
    declaring = {f"chainledger.domain.{path.stem}" for path in domain.glob("*.py")
                 if "@ledger_event(" in path.read_text(encoding="utf-8")}  # fmt: skip
    assert declaring == set(DECLARING_MODULES)


def test_the_facade_knows_every_public_use_case_of_each_service() -> None:
    """``USE_CASES`` (which lets the façade import only the service it calls) lists exactly
    each service's public use cases: a new one missing there, or an old one left, fails."""
    from chainledger.bootstrap import SERVICES, USE_CASES, service_class

    assert set(USE_CASES) == set(SERVICES)
    for attribute, names in USE_CASES.items():
        public = {name for name in vars(service_class(attribute)) if not name.startswith("_")}
        assert sorted(names) == sorted(public), attribute


def test_a_command_loads_only_the_services_it_uses(tmp_path: Path) -> None:
    """Opening a ledger loads no service; a report loads the reports' and what they need,
    not the audit's, the pages', the bundles' or open data's."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from chainledger.bootstrap import open_ledger\n"
        f"app = open_ledger({str(tmp_path / 'l.db')!r}, __import__('pathlib').Path("
        f"{str(tmp_path / 'k')!r}), create=True, state=__import__('pathlib').Path("
        f"{str(tmp_path / 's')!r}))\n"
        "app.init_ledger('probe')\n"
        "opened = {m for m in sys.modules if m.startswith('chainledger.application.')}\n"
        "app.report('workshare')\n"
        "after = {m for m in sys.modules if m.startswith('chainledger.application.')}\n"
        "print(sorted(opened)); print(sorted(after - opened))\n"
    )
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    opened, added = (eval(line) for line in ran.stdout.splitlines()[-2:])  # noqa: S307 - lists of names
    for lazy in ("auditing", "pages", "exchange", "open_data", "reports"):
        assert f"chainledger.application.{lazy}" not in opened
    assert "chainledger.application.reports" in added
    for unused in ("auditing", "pages", "open_data"):
        assert f"chainledger.application.{unused}" not in added


# Use cases that take a signer but prepare on this machine (sealing, opening) and then
# call a signed step themselves.
PREPARING = {("Reviews", "rate"), ("Reviews", "reveal")}


def test_every_use_case_that_signs_is_a_signed_step() -> None:
    """A use case taking a signer that is not a ``@signed_step`` would record locally but
    could never be sent to a ledger service (its events would come with no step)."""
    import inspect

    from chainledger.application.steps import steps_of
    from chainledger.application.submissions import SERVICES

    for name, service in SERVICES.items():
        signing = {method for method, member in vars(service).items()
                   if not method.startswith("_") and callable(member)
                   and list(inspect.signature(member).parameters)[:2] == ["self", "signer"]}  # fmt: skip
        assert signing - steps_of(service) == {m for s, m in PREPARING if s == name}, name
