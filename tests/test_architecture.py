"""The allowed import directions inside src/kumo, checked on the source (ast, no imports run).

    shared base (api/, config, errors, metrics, log_format, timestamps)  <-  storage/  <-  products  <-  platform  <-  app, cli
                                                                          (implements      (ai, aisearch, gateway, r2,
                                                                           products'        vectorize, workers, dashboard,
                                                                           store shapes)    custom_models)

A new violation fails with the file and the import. An exception that cannot be mended yet goes in ALLOWED
with its reason; keep that list short.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
SHARED_BASE = {"api", "config", "errors", "metrics", "log_format", "timestamps"}
PRODUCTS = {"ai", "aisearch", "gateway", "r2", "vectorize", "workers", "dashboard", "custom_models"}
WIRING = {"platform", "app", "env", "cli", "__main__"}

# (importing module, imported module) -> why it is allowed for now
ALLOWED: dict[tuple[str, str], str] = {
    ("kumo.cli.models", "kumo.ai.catalog"): "`kumo models pull/list` manage the weights directory offline, no server",
    ("kumo.cli.models", "kumo.ai.service"): "same: resolves which weights a model needs without a server",
    ("kumo.cli.models", "kumo.ai.weights"): "same: downloads into the weights directory",
    ("kumo.cli.r2", "kumo.r2.credentials"): "client side of the wire: derives the S3 key pair the server accepts",
    ("kumo.cli.r2", "kumo.r2.s3.sigv4"): "client side of the wire: signs S3 requests (SigV4)",
    ("kumo.cli.serve", "kumo.workers.tls"): "makes the workers.dev certificate before the server starts",
    ("kumo.cli.migrate", "kumo.storage.migrate"): "`kumo migrate` is the operator's tool on the data itself",
    ("kumo.cli.migrate", "kumo.storage.transfer"): "same: copies a data dir into PostgreSQL",
}


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted((SRC / "kumo").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = ast.parse(path.read_text(), filename=str(path))
    return out


MODULES = _modules()


def _imports(tree: ast.Module) -> list[tuple[int, str]]:
    """Every `kumo.*` module imported anywhere in the file (also inside functions and TYPE_CHECKING blocks:
    a type is a dependency too)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("kumo.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.startswith("kumo."):
            # `from kumo.storage import migrate` imports the module kumo.storage.migrate
            submodules = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES]
            out += [(node.lineno, m) for m in submodules or [node.module]]
    return out


def _top(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def _is_http_layer(module: str) -> bool:
    """Modules that answer HTTP: a product's routes, and the dashboard."""
    last = module.rsplit(".", 1)[-1]
    return (last == "routes" or last.endswith("_routes") or last.startswith("routes_") or _top(module) == "dashboard"
            or ".pages." in module)


def _is_outer(module: str) -> bool:
    """A product's outward parts, which storage must not know: HTTP, services, the data plane, bindings."""
    last = module.rsplit(".", 1)[-1]
    return _is_http_layer(module) or last in {"service", "front", "pipeline", "binding", "forwarding"}


def _violations(rule) -> list[str]:
    found = []
    for module, tree in MODULES.items():
        for line, target in _imports(tree):
            reason = rule(module, target)
            if reason and (module, target) not in ALLOWED:
                found.append(f"src/{module.replace('.', '/')}.py:{line} imports {target}: {reason}")
    return found


def test_shared_base_imports_no_product_storage_or_wiring():
    def rule(module: str, target: str) -> str | None:
        if _top(module) in SHARED_BASE and _top(target) not in SHARED_BASE:
            return "the shared layer (api/, config, errors, metrics, log_format) must not depend on a product, " \
                   "storage or the wiring; take what it needs as an argument or from app.state"
        return None

    assert not _violations(rule), "\n".join(_violations(rule))


def test_storage_knows_only_the_shapes_products_declare():
    def rule(module: str, target: str) -> str | None:
        if _top(module) != "storage":
            return None
        if _top(target) in WIRING:
            return "storage must not depend on the wiring"
        if _top(target) in PRODUCTS and _is_outer(target):
            return "storage implements a product's store interface; it must not use its routes or services"
        return None

    assert not _violations(rule), "\n".join(_violations(rule))


def test_products_do_not_use_each_others_routes_or_the_app():
    def rule(module: str, target: str) -> str | None:
        if _top(module) not in PRODUCTS:
            return None
        if _top(target) in {"app", "cli", "__main__"}:
            return "a product must not depend on the app or the CLI"
        if _top(target) in PRODUCTS and _top(target) != _top(module) and _is_http_layer(target):
            return "call the other product's service, not its HTTP routes"
        return None

    assert not _violations(rule), "\n".join(_violations(rule))


def test_products_do_not_import_concrete_storage():
    def rule(module: str, target: str) -> str | None:
        if _top(module) in PRODUCTS and _top(target) == "storage":
            return "declare the interface in the product (a Protocol) and let platform.py pass the backend"
        return None

    assert not _violations(rule), "\n".join(_violations(rule))


def test_cli_talks_over_http_or_through_the_platform():
    allowed_targets = {"cli", "config", "errors", "log_format", "app", "platform"}

    def rule(module: str, target: str) -> str | None:
        # a product's package root (`kumo.custom_models`: names such as its prefix) is its public face
        if _top(module) == "cli" and _top(target) not in allowed_targets and target.count(".") > 1:
            return "the CLI reaches products over HTTP (kumo.cli.client) or through Platform"
        return None

    assert not _violations(rule), "\n".join(_violations(rule))


def test_allow_list_has_no_stale_entries():
    present = {(module, target) for module, tree in MODULES.items() for _, target in _imports(tree)}
    stale = sorted(set(ALLOWED) - present)
    assert not stale, f"these exceptions are mended; remove them from ALLOWED: {stale}"


# module -> why its HTTP code still reaches a store, for now
STORE_ACCESS_ALLOWED: dict[str, str] = {}


def test_routes_and_dashboard_call_services_never_stores():
    """An HTTP module that reads `.store` (or `.stores`) bypasses the service's checks: add a service method."""
    found = []
    for module, tree in MODULES.items():
        if not _is_http_layer(module) or module in STORE_ACCESS_ALLOWED:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in {"store", "stores"}:
                found.append(f"src/{module.replace('.', '/')}.py:{node.lineno} reads `.{node.attr}`: "
                             "routes and the dashboard call services, never stores")
    assert not found, "\n".join(found)
    stale = [m for m in STORE_ACCESS_ALLOWED if m not in MODULES or not any(
        isinstance(n, ast.Attribute) and n.attr in {"store", "stores"} for n in ast.walk(MODULES[m]))]
    assert not stale, f"these modules no longer reach a store; remove them from STORE_ACCESS_ALLOWED: {stale}"


def test_only_the_http_edge_reaches_the_platform():
    """Services, stores and engines get their collaborators passed in; only what answers HTTP (routes, dashboard,
    ASGI fronts) and the outside (app, cli, env) look the Platform up."""
    def rule(module: str, target: str) -> str | None:
        if target != "kumo.platform" or _top(module) in WIRING:
            return None
        if _is_http_layer(module) or module.rsplit(".", 1)[-1] == "front":
            return None
        return "take the collaborator as a constructor argument; platform.py passes it"

    assert not _violations(rule), "\n".join(_violations(rule))


def _defined(tree: ast.Module) -> set[str]:
    """Top-level names a module defines or imports (conditional ones included)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def test_every_kumo_import_names_something_that_exists():
    """When a name moves home (as `platform_of` moved from kumo.api.routing to kumo.platform), a branch that still
    imports it from the old place fails here, naming the file, instead of at start-up."""
    defined = {module: _defined(tree) for module, tree in MODULES.items()}
    found = []
    for module, tree in MODULES.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in MODULES):
                continue
            for alias in node.names:
                name = alias.name
                if name != "*" and name not in defined[node.module] and f"{node.module}.{name}" not in MODULES:
                    found.append(f"src/{module.replace('.', '/')}.py:{node.lineno} imports {name} from "
                                 f"{node.module}, which has no such name")
    assert not found, "\n".join(found)


def test_only_the_platform_builds_backends():
    """Backends are chosen from one table (`kumo.platform.choose_backends`) and built in platform.py: any other
    module outside storage that imports a concrete backend is picking one on its own."""
    def rule(module: str, target: str) -> str | None:
        if _top(target) != "storage" or _top(module) == "storage" or module == "kumo.platform":
            return None
        return "backends are built in kumo/platform.py from its Backends table"

    assert not _violations(rule), "\n".join(_violations(rule))


# module -> why it reads a setting that chooses a backend (the choice itself is kumo.platform.choose_backends)
BACKEND_SETTING_READS_ALLOWED = {
    "kumo.cli.migrate": "`kumo migrate` migrates the database the URL names",
}
BACKEND_SETTINGS = {"database_url", "redis_url", "r2_engine_url", "gateway_cache"}


def test_backend_settings_are_read_where_backends_are_chosen():
    found = []
    for module, tree in MODULES.items():
        if module in {"kumo.config", "kumo.platform"} or module in BACKEND_SETTING_READS_ALLOWED:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in BACKEND_SETTINGS and \
                    isinstance(node.value, ast.Name) and node.value.id == "settings":
                found.append(f"src/{module.replace('.', '/')}.py:{node.lineno} reads settings.{node.attr}: "
                             "ask kumo.platform.choose_backends which backend serves")
    assert not found, "\n".join(found)


# one home for each small shared idea: the helper, and the spellings it replaced
ONE_HOME = {
    "kumo.api.threads": ({"to_thread", "run_in_threadpool"}, "run blocking work with kumo.api.threads.blocking"),
    "kumo.timestamps": ({"isoformat", "fromisoformat"}, "write and read timestamps with kumo.timestamps"),
}


def test_small_shared_ideas_have_one_home():
    found = []
    for home, (names, advice) in ONE_HOME.items():
        for module, tree in MODULES.items():
            if module == home:
                continue
            for node in ast.walk(tree):
                name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
                if name in names:
                    found.append(f"src/{module.replace('.', '/')}.py:{node.lineno} uses {name}: {advice}")
    assert not found, "\n".join(found)
