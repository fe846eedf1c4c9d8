"""The registries say what the code does: topics (who produces, who consumes), metrics, Redis keys.

Each is read from the source with ``ast``, independently of the registry it is compared with:
- a service produces a topic when a module it runs (its package and the ``shared`` modules it imports,
  transitively) calls ``.send(`` or ``.send_raw(`` with that topic; it consumes the topics it passes to
  ``run_service``;
- a metric is every ``Counter``/``Gauge``/``Histogram`` constructed with a literal name (counters exported
  with ``_total``);
- a Redis key is a string that starts with a key prefix (``mf:``, ``mailferry:``) or an f-string that starts
  with ``redis_keys.PREFIX``; outside ``shared/redis_keys.py`` there must be none.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from shared import topics as topic_registry
from shared.metrics import CATALOGUE

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "extractor", "loader", "tracker")
KEY_PREFIXES = ("mf:", "mailferry:")


@cache
def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def module_path(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imported(path: Path) -> set[Path]:
    """The repository's modules that ``path`` imports (``from shared import x`` counts ``shared/x.py``)."""
    found: set[Path] = set()
    for node in ast.walk(tree(path)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            if name.split(".")[0] in ("shared", "services") and (p := module_path(name)) is not None:
                found.add(p)
    return found


def closure(service: str) -> set[Path]:
    """Every module a service runs: its package, and what it imports, transitively (no other service)."""
    todo = list((ROOT / "services" / service).rglob("*.py"))
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for dep in imported(path):
            rel = dep.relative_to(ROOT).parts
            if rel[0] == "services" and rel[1] not in (service, "runtime.py", "__init__.py"):
                continue
            todo.append(dep)
    return seen


def topic_of(node: ast.expr) -> str | None:
    """The logical topic name of ``topics.ITEMS`` / ``ITEMS`` (a TopicSpec of the registry), else None."""
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
    spec = getattr(topic_registry, name, None) if name else None
    return spec.name if isinstance(spec, topic_registry.TopicSpec) else None


def produced(paths: set[Path]) -> set[str]:
    out: set[str] = set()
    for path in paths:
        for node in ast.walk(tree(path)):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("send", "send_raw") and node.args
                    and (name := topic_of(node.args[0])) is not None):
                out.add(name)
    return out


def consumed(service: str) -> set[str]:
    out: set[str] = set()
    for path in (ROOT / "services" / service).rglob("*.py"):
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "run_service":
                reads = node.args[3] if len(node.args) > 3 else next(k.value for k in node.keywords if k.arg == "reads")
                assert isinstance(reads, ast.List), path
                out |= {n for e in reads.elts if (n := topic_of(e)) is not None}
        out |= replayed(path)
    return out


def replayed(path: Path) -> set[str]:
    """Topics a module reads from the start by itself (a rebuild: ``topics.X.full_name(...)`` in a module
    that assigns a consumer, or ``read_topics(..., [topics.X])``), beside the service's subscriptions."""
    nodes = list(ast.walk(tree(path)))
    through_reader = {name for n in nodes if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "read_topics"
                      for arg in n.args if isinstance(arg, ast.List)
                      for e in arg.elts if (name := topic_of(e)) is not None}  # shared.view_rebuild's reader
    if not any(isinstance(n, ast.Attribute) and n.attr in ("assign", "subscribe") for n in nodes):
        return through_reader
    return through_reader | {name for n in nodes if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and n.func.attr == "full_name" and (name := topic_of(n.func.value)) is not None}


# Sends the import closure reaches but the service never makes: every worker's CredentialStore can tombstone a
# data key on the record, and only the tracker deletes keys (services/tracker/service.py). The test fails
# once the reading stops seeing one of these, so the list cannot go stale.
NEVER_SENT = {("migrations.record", "extractor"), ("migrations.record", "loader")}


def test_the_topic_registry_names_who_produces_and_consumes_each_topic() -> None:
    code_producers: dict[str, set[str]] = {t.name: set() for t in topic_registry.TOPICS}
    code_consumers: dict[str, set[str]] = {t.name: set() for t in topic_registry.TOPICS}
    for service in SERVICES:
        for name in produced(closure(service)):
            code_producers[name].add(service)
        for name in consumed(service):
            code_consumers[name].add(service)
    for topic, service in NEVER_SENT:
        assert service in code_producers[topic], f"{service} no longer reaches {topic}: drop it from NEVER_SENT"
        code_producers[topic].discard(service)
    registry_producers = {t.name: set(t.producers) for t in topic_registry.TOPICS}
    registry_consumers = {t.name: set(t.consumers) for t in topic_registry.TOPICS}
    assert registry_producers == code_producers
    assert registry_consumers == code_consumers


def test_the_analysis_sees_a_send_and_a_subscription() -> None:
    """The reading above finds what is there (else an empty registry would pass against empty findings)."""
    assert "items" in produced({ROOT / "services" / "extractor" / "service.py"})
    assert consumed("loader") >= {"items"}
    assert ROOT / "shared" / "kafka_edge.py" in closure("loader")
    assert not any("services/extractor" in str(p) for p in closure("loader"))


def defined_metrics() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for path in [*ROOT.joinpath("shared").rglob("*.py"), *ROOT.joinpath("services").rglob("*.py")]:
        for node in ast.walk(tree(path)):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            kind = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            kind = kind.removesuffix("MetricFamily")  # a custom collector's families are metrics too
            first = node.args[0]
            if kind in ("Counter", "Gauge", "Histogram") and isinstance(first, ast.Constant) \
                    and isinstance(first.value, str):
                out[first.value + ("_total" if kind == "Counter" else "")] = path
    return out


def test_the_metrics_catalogue_is_every_metric_the_code_defines() -> None:
    defined = defined_metrics()
    assert "mailferry_items_total" in defined  # the reading works
    assert set(CATALOGUE) == set(defined), {
        "defined, not catalogued": {n: str(p.relative_to(ROOT)) for n, p in defined.items() if n not in CATALOGUE},
        "catalogued, not defined": set(CATALOGUE) - set(defined)}


def key_like(node: ast.AST) -> bool:
    """A literal Redis key, or an f-string that starts with ``PREFIX`` / ``k.PREFIX`` / a key prefix."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.startswith(KEY_PREFIXES)
    if isinstance(node, ast.JoinedStr) and node.values:
        head = node.values[0]
        if isinstance(head, ast.Constant) and isinstance(head.value, str):
            return head.value.startswith(KEY_PREFIXES)
        if isinstance(head, ast.FormattedValue):
            inner = head.value
            return (isinstance(inner, ast.Attribute) and inner.attr == "PREFIX"
                    and getattr(inner.value, "id", "") in ("k", "redis_keys"))
    return False


def keys_outside_the_registry() -> list[str]:
    found = []
    for path in [*ROOT.joinpath("shared").rglob("*.py"), *ROOT.joinpath("services").rglob("*.py")]:
        if path == ROOT / "shared" / "redis_keys.py":
            continue
        for node in ast.walk(tree(path)):
            if key_like(node) and not any(isinstance(p, ast.JoinedStr) and node in p.values
                                          for p in ast.walk(tree(path)) if isinstance(p, ast.JoinedStr)):
                found.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}")
    return found


def test_every_redis_key_is_built_in_redis_keys() -> None:
    assert set(keys_outside_the_registry()) == set()


def test_the_key_reading_finds_keys() -> None:
    samples = ['"mf:mig:x"', 'f"{k.PREFIX}:notify"', 'f"mailferry:graph:{d}"']
    assert all(key_like(ast.parse(s, mode="eval").body) for s in samples)
    assert not any(key_like(ast.parse(s, mode="eval").body) for s in ['"mfa"', 'f"{x}:mf:"', '"/api/v1"'])
