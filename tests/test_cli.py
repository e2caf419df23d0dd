"""The ``modelreg`` command, end to end against the real server, in process."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

import pytest

import modelreg
from modelreg import DataRef, DataRole
from modelreg._cli_format import data_ref, param_value
from modelreg.cli import main
from tests.conftest import unique


def test_register_with_params_and_data_then_list(
    cli: Any, sync_client: modelreg.Client, project: str
) -> None:
    # Training data names dataset versions that exist; the old --data syntax
    # (dataset:version:batch_id:role) still parses, and the batch id comes from the version.
    corpus = sync_client.create_dataset_version(
        project, "corpus", uri="s3://c", version="2024-q3", batch_id="batch-7"
    ).resource_name
    code, out, err = cli(
        "versions", "register", project, "translate",
        "--artifact-uri", "./model/v1.pth",
        "--architecture", "transformer-base",
        "--architecture-config", '{"layers": 6}',
        "--param", "lr=0.01", "--param", "epochs=10", "--param", "fp16=true",
        "--param", "optimizer=adamw",
        "--data", "corpus:2024-q3:batch-7",
        "--data", "corpus:2024-q3::validation",
        "--code-repo", "https://example.com/mt.git", "--code-commit", "abc123",
        "--label", "team=nlp",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert "display_name: translate_v1" in out
    assert (
        f"training_data: {corpus}:TRAIN (batch batch-7), {corpus}:VALIDATION (batch batch-7)"
    ) in out
    code, _, _ = cli(
        "versions", "register", project, "translate", "--artifact-uri", "./model/v2.pth",
        "--param", "lr=0.005", "--parent", "1",
    )  # fmt: skip
    assert code == 0

    code, out, _ = cli("versions", "list", project, "translate")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == [
        "VERSION", "NAME", "STATE", "ALIASES", "ARCHITECTURE", "PARAMS", "CREATED"
    ]  # fmt: skip
    assert len(rows) == 2
    assert "translate_v1" in rows[0] and "epochs=10,fp16=true,lr=0.01" in rows[0]
    assert "translate_v2" in rows[1]

    code, out, _ = cli("--json", "versions", "list", project, "translate")
    listed = json.loads(out)
    assert [v["version"] for v in listed] == [1, 2]
    first = listed[0]
    assert first["params"] == {"lr": 0.01, "epochs": 10, "fp16": True, "optimizer": "adamw"}
    assert first["architecture_config"] == {"layers": 6}
    assert first["training_data"] == [
        {"dataset": "corpus", "version": "2024-q3", "batch_id": "batch-7", "role": role,
         "dataset_version": corpus}
        for role in ("TRAIN", "VALIDATION")
    ]  # fmt: skip
    assert first["code_version"] == {
        "repo": "https://example.com/mt.git", "commit": "abc123", "dirty": False
    }  # fmt: skip
    assert first["state"] == "READY"
    assert first["create_time"].endswith("+00:00")
    assert listed[1]["parent_version"] == f"projects/{project}/models/translate/versions/1"

    # Global options are accepted after the command too, and filters reach the server.
    code, out, _ = cli("versions", "list", project, "translate", "--filter", "params.lr < 0.01",
                       "--json")  # fmt: skip
    assert [v["version"] for v in json.loads(out)] == [2]


def test_alias_set_history_rollback(cli: Any, sync_client: modelreg.Client, project: str) -> None:
    for n in ("1", "2", "3"):
        sync_client.register_model_version(project, "m", artifact_uri=f"./v{n}.pth")
        code, out, _ = cli("aliases", "set", project, "m", "production", n, "--reason", f"to {n}")
        assert code == 0 and f"version: {n}" in out

    code, out, _ = cli("--json", "aliases", "rollback", project, "m", "production")
    assert code == 0 and json.loads(out)["version"] == 2
    code, out, _ = cli("--json", "aliases", "rollback", project, "m", "production")
    assert json.loads(out)["version"] == 1

    code, out, _ = cli("--json", "aliases", "history", project, "m", "production")
    events = [(e["kind"], e["from_version"], e["to_version"]) for e in json.loads(out)]
    assert events == [
        ("ROLLBACK", 2, 1), ("ROLLBACK", 3, 2), ("SET", 2, 3), ("SET", 1, 2), ("SET", None, 1)
    ]  # fmt: skip
    code, out, _ = cli("aliases", "history", project, "m", "production")
    assert out.splitlines()[0].split() == ["SEQ", "KIND", "FROM", "TO", "ACTOR", "TIME", "REASON"]
    assert "to 2" in out

    code, out, _ = cli("aliases", "list", project, "m")
    assert out.splitlines()[1].split()[:2] == ["production", "1"]
    code, out, _ = cli("versions", "get", project, "m", "production")
    assert "display_name: m_v1" in out and "aliases: production" in out

    code, out, _ = cli("aliases", "delete", project, "m", "production")
    assert code == 0 and f"deleted: projects/{project}/models/m/aliases/production" in out
    code, _, err = cli("versions", "get", project, "m", "production")
    assert code == 1 and err.startswith("error: NOT_FOUND: ")


def test_projects_models_and_version_states(cli: Any) -> None:
    name = unique("cli")
    code, out, _ = cli("projects", "create", name, "--description", "d", "--label", "team=nlp")
    assert code == 0 and "labels: team=nlp" in out
    code, out, _ = cli("projects", "update", name, "--label", "team=cv")
    assert code == 0 and "labels: team=cv" in out and "description: d" in out
    code, out, _ = cli("--json", "projects", "list", "--filter", f'name = "{name}"')
    assert [p["name"] for p in json.loads(out)] == [name]

    assert cli("models", "create", name, "m", "--description", "a model")[0] == 0
    code, out, _ = cli("models", "list", name)
    assert out.splitlines()[1].split()[:2] == ["m", "0"]
    assert cli("versions", "register", name, "m", "--artifact-uri", "x")[0] == 0

    code, out, _ = cli("--json", "versions", "archive", name, "m", "1")
    assert json.loads(out)["state"] == "ARCHIVED"
    code, out, _ = cli("--json", "versions", "delete", name, "m", "1")
    assert json.loads(out)["state"] == "DELETED"
    code, out, _ = cli("versions", "list", name, "m")
    assert out.splitlines()[1:] == []
    code, out, _ = cli("--json", "versions", "list", name, "m", "--show-deleted")
    assert [v["state"] for v in json.loads(out)] == ["DELETED"]
    code, out, _ = cli("--json", "versions", "restore", name, "m", "1")
    assert json.loads(out)["state"] == "READY"
    code, out, _ = cli("--json", "versions", "update", name, "m", "1", "--description", "best")
    assert json.loads(out)["description"] == "best"

    code, _, err = cli("projects", "delete", name)
    assert code == 1 and err.startswith("error: FAILED_PRECONDITION: ")
    code, out, _ = cli("--json", "projects", "delete", name, "--force")
    assert code == 0 and json.loads(out) == {"deleted": f"projects/{name}"}


def test_bad_name_exits_1_and_names_the_field(cli: Any) -> None:
    code, out, err = cli("projects", "create", "Bad Name")
    assert (code, out) == (1, "")
    assert err.startswith("error: INVALID_ARGUMENT: ")
    assert "project_id" in err


def test_bad_param_names_the_field(cli: Any, project: str) -> None:
    code, _, err = cli(
        "versions", "register", project, "m", "--artifact-uri", "x", "--param", "1bad=2"
    )
    assert code == 1
    assert err.startswith("error: INVALID_ARGUMENT: ") and "model_version.params" in err


def test_unknown_project_is_not_found(cli: Any) -> None:
    code, out, err = cli("versions", "list", unique("nope"), "m")
    assert (code, out) == (1, "")
    assert err.startswith("error: NOT_FOUND: ")


def test_usage_errors_exit_2(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["versions", "register", "p", "m"],  # --artifact-uri is required
        ["versions", "register", "p", "m", "--artifact-uri", "x", "--param", "novalue"],
        ["versions", "register", "p", "m", "--artifact-uri", "x", "--data", "d:v:b:nope"],
        ["projects", "list", "--bogus"],
    ):
        with pytest.raises(SystemExit) as exc:
            cli(*argv)
        assert exc.value.code == 2, argv
    assert "--param: expected key=value" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("-2", -2),
        ("0.1", 0.1),
        ("1e-3", 0.001),
        ("true", True),
        ("False", False),
        ("adamw", "adamw"),
        ("nan", "nan"),
        ("", ""),
    ],
)
def test_param_values_are_typed(text: str, value: object) -> None:
    parsed = param_value(text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("corpus", DataRef("corpus", "", "", DataRole.TRAIN)),
        ("corpus:2024", DataRef("corpus", "2024", "", DataRole.TRAIN)),
        ("corpus:2024:b-7", DataRef("corpus", "2024", "b-7", DataRole.TRAIN)),
        ("corpus:2024:b-7:validation", DataRef("corpus", "2024", "b-7", DataRole.VALIDATION)),
        ("corpus:::TEST", DataRef("corpus", "", "", DataRole.TEST)),
        ("corpus:::train", DataRef("corpus", "", "", DataRole.TRAIN)),
    ],
)
def test_data_role_defaults_to_train(text: str, ref: DataRef) -> None:
    assert data_ref(text) == ref


@pytest.mark.parametrize("role", ["unspecified", "nope", "0"])
def test_unknown_data_role_lists_the_roles(role: str) -> None:
    with pytest.raises(
        argparse.ArgumentTypeError, match=r"train \(the default\), validation or test"
    ):
        data_ref(f"corpus:::{role}")


def test_register_help_documents_train_as_the_default_role(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["versions", "register", "--help"])
    assert exc.value.code == 0
    assert "ROLE: train (default), validation, test" in " ".join(capsys.readouterr().out.split())


def test_serve_and_db_are_passed_to_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    import modelreg_server.__main__ as server_main

    calls: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        calls.append(list(argv))
        return 0

    monkeypatch.setattr(server_main, "main", fake_main)
    assert main(["serve", "--listen", "127.0.0.1:0", "--data-dir", "/tmp/x", "--help"]) == 0
    assert main(["db", "upgrade", "--database-url", "postgresql://u@h/db"]) == 0
    assert calls == [
        ["serve", "--listen", "127.0.0.1:0", "--data-dir", "/tmp/x", "--help"],
        ["db", "upgrade", "--database-url", "postgresql://u@h/db"],
    ]


def test_serve_without_the_server_installed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "modelreg_server.__main__", None)
    assert main(["serve"]) == 2
    assert "install 'modelreg[server]'" in capsys.readouterr().err


def test_help_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "modelreg.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for command in ("serve", "db", "projects", "models", "versions", "aliases", "--target"):
        assert command in result.stdout
