"""Client and AsyncClient offer the same methods, and the tests reach all of them through
the parametrised ``client`` fixture (so each runs against both clients)."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import modelreg

TESTS = Path(__file__).resolve().parent


def public_methods(cls: type[Any]) -> dict[str, Callable[..., Any]]:
    return {
        name: member
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def calls_through_the_client_fixture() -> dict[str, list[str]]:
    """Attribute names used on ``client`` inside test functions that take the ``client``
    fixture (nested functions and lambdas included), with where they were seen."""
    found: dict[str, list[str]] = {}
    for path in sorted(TESTS.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if not node.name.startswith("test_"):
                continue
            if "client" not in [a.arg for a in node.args.args + node.args.kwonlyargs]:
                continue
            for inner in ast.walk(node):
                if (
                    isinstance(inner, ast.Attribute)
                    and isinstance(inner.value, ast.Name)
                    and inner.value.id == "client"
                ):
                    found.setdefault(inner.attr, []).append(f"{path.name}:{inner.lineno}")
    return found


def test_every_async_client_method_is_called_through_the_parametrised_fixture() -> None:
    called = calls_through_the_client_fixture()
    missing = sorted(set(public_methods(modelreg.AsyncClient)) - set(called))
    assert missing == []
    # The scan does see what it should: a method used in a lambda, one in a nested function.
    assert "create_project" in called and "list_model_versions" in called


def test_the_client_fixture_is_parametrised_over_both_clients() -> None:
    tree = ast.parse((TESTS / "conftest.py").read_text(encoding="utf-8"))
    fixture = next(
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "client"
    )
    (decorator,) = fixture.decorator_list
    assert isinstance(decorator, ast.Call)
    params = {k.arg: ast.literal_eval(k.value) for k in decorator.keywords}["params"]
    assert params == ["sync", "async"]


def test_both_clients_have_the_same_methods_and_parameters() -> None:
    sync, aio = public_methods(modelreg.Client), public_methods(modelreg.AsyncClient)
    assert sorted(sync) == sorted(aio)
    assert len(sync) >= 24
    for name in [*sorted(sync), "__init__"]:
        s = inspect.signature(getattr(modelreg.Client, name))
        a = inspect.signature(getattr(modelreg.AsyncClient, name))
        assert [(p.name, p.kind, p.default) for p in s.parameters.values()] == [
            (p.name, p.kind, p.default) for p in a.parameters.values()
        ], name
        # Return types differ only by Async: AsyncPager[Project] -> Pager[Project].
        assert str(s.return_annotation) == str(a.return_annotation).replace("Async", ""), name
        assert inspect.getdoc(getattr(modelreg.Client, name)) == inspect.getdoc(
            getattr(modelreg.AsyncClient, name)
        ), name


def test_async_methods_are_coroutines_or_async_iterators() -> None:
    for name, method in public_methods(modelreg.AsyncClient).items():
        returns = str(inspect.signature(method).return_annotation)
        if returns.startswith("AsyncPager["):
            # A pager, made at once: `async for` over it, or `await ....page(token)`.
            assert not inspect.iscoroutinefunction(method), name
            assert name.startswith(("list_", "rank_", "metric_history")), name
        elif returns == "AsyncActiveRun":
            # An async context manager, made at once: `async with client.start_run(...)`.
            assert name == "start_run" and not inspect.iscoroutinefunction(method)
        elif returns == "AsyncActivePipelineRun":
            # Likewise: `async with client.pipeline_run(...) as p`.
            assert name == "pipeline_run" and not inspect.iscoroutinefunction(method)
        else:
            assert inspect.iscoroutinefunction(method), name
        assert not inspect.iscoroutinefunction(getattr(modelreg.Client, name)), name


def test_families_share_only_the_call_helper() -> None:
    # A family class defines its own methods; a private helper serves its family only.
    families = [c for c in modelreg.AsyncClient.__mro__[1:] if c is not object]
    assert [c.__name__ for c in families] == [
        "AsyncProjects",
        "AsyncModels",
        "AsyncVersions",
        "AsyncAliases",
        "AsyncDatasets",
        "AsyncRuns",
        "AsyncEvaluations",
        "AsyncDeployments",
        "AsyncInference",
        "AsyncPipelines",
        "AsyncLineage",
        "AsyncKeys",
    ]
    seen: dict[str, str] = {}
    for family in families:
        for name in vars(family):
            if name.startswith("__"):
                continue
            assert name not in seen or name == "_rpc", (name, family, seen.get(name))
            seen[name] = family.__name__
        assert family.__annotations__ == {"_rpc": "AsyncRPC"}


def test_close_twice(client: modelreg.Client) -> None:
    assert list(client.list_projects(filter='name = "nosuchproject"')) == []
    client.close()
    client.close()  # and once more when the fixture ends


@pytest.mark.parametrize("cls", [modelreg.Client, modelreg.AsyncClient])
def test_bad_actor_is_refused_before_a_channel_is_made(cls: type[Any]) -> None:
    with pytest.raises(ValueError, match="actor"):
        cls("127.0.0.1:1", actor="caf\u00e9")
