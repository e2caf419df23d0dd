"""The mission's story through the ``modelreg`` command: three runs with different lr, a
version from each, evaluations on two test sets where a different version wins on each;
then the experiment table, compare, best and the datasets, against the real server."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest

import modelreg
from modelreg import DataRef, DataRole
from modelreg._cli_format import data_ref
from modelreg._cli_tracking import experiment_row
from modelreg.cli import main

LRS = (0.01, 0.005, 0.001)


@pytest.fixture
def story(cli: Any, sync_client: modelreg.Client, project: str) -> dict[str, Any]:
    """Datasets made through the CLI; runs, versions and evaluations through the SDK."""
    names = {}
    for dataset in ("test_a", "test_b"):
        code, out, err = cli(
            "--json", "datasets", "create", project, dataset, "--uri", f"s3://d/{dataset}.parquet",
            "--split", "test", "--row-count", "500", "--schema", '{"kr": "string"}',
        )  # fmt: skip
        assert (code, err) == (0, ""), err
        created = json.loads(out)
        assert (created["dataset"], created["version"], created["split"]) == (dataset, "v1", "test")
        names[dataset] = f"projects/{project}/datasets/{dataset}/versions/v1"
    precision_a, precision_b = (0.78, 0.81, 0.80), (0.60, 0.62, 0.70)
    runs = []
    for i, lr in enumerate(LRS):
        with sync_client.start_run(project, params={"lr": lr, "epochs": 10}) as run:
            run.log_metrics({"loss": 0.5 - i / 10, "bleu": 30.0 + i})
            v = run.register_model_version(
                "translate_kr2en",
                artifact_uri=f"./model/v{i + 1}.pth",
                params={"lr": lr, "epochs": 10},
            )
        for name, precision in (("test_a", precision_a[i]), ("test_b", precision_b[i])):
            sync_client.log_evaluation(v, dataset=names[name], metrics={"precision": precision})
        runs.append(run.run_id)
    return {"project": project, "runs": runs, **names}


def test_runs_list_is_the_experiment_table(cli: Any, story: dict[str, Any]) -> None:
    project, runs = story["project"], story["runs"]
    code, out, err = cli("runs", "list", project)
    assert (code, err) == (0, "")
    header, *rows = out.splitlines()
    assert header.split() == ["MODEL_VERSION", "RUN", "STATE", "PARAMS", "SCORE", "MODEL_PATH"]
    assert len(rows) == 3
    for i, (row, run_id) in enumerate(zip(rows, runs, strict=True)):
        cells = row.split()
        assert cells[:3] == [f"translate_kr2en_v{i + 1}", run_id, "SUCCEEDED"]
        assert cells[3] == f"epochs=10,lr={LRS[i]}"
        assert cells[4] == f"{30.0 + i:g}"  # the first metric by key: bleu
        assert cells[5] == f"./model/v{i + 1}.pth"

    code, out, _ = cli("runs", "list", project, "--metric", "loss")
    assert [r.split()[4] for r in out.splitlines()[1:]] == ["0.5", "0.4", "0.3"]

    code, out, _ = cli(
        "runs", "list", project, "--metric", "precision", "--dataset", story["test_a"]
    )
    assert [r.split()[4] for r in out.splitlines()[1:]] == ["0.78", "0.81", "0.8"]
    code, out, _ = cli("runs", "list", project, "--metric", "precision", "--dataset", "test_b:v1")
    assert [r.split()[4] for r in out.splitlines()[1:]] == ["0.6", "0.62", "0.7"]

    code, out, _ = cli("--json", "runs", "list", project, "--filter", "params.lr < 0.005")
    listed = json.loads(out)
    assert [r["run_id"] for r in listed] == [runs[2]]
    assert listed[0]["model_path"] == "./model/v3.pth"
    assert listed[0]["model_version"] == "translate_kr2en_v3"
    assert (listed[0]["metric"], listed[0]["score"]) == ("bleu", 32.0)
    assert listed[0]["params"] == {"lr": 0.001, "epochs": 10}
    assert listed[0]["version_name"] == f"projects/{project}/models/translate_kr2en/versions/3"


def test_runs_show_and_metrics(cli: Any, story: dict[str, Any]) -> None:
    project, run_id = story["project"], story["runs"][0]
    code, out, _ = cli("runs", "show", project, run_id)
    assert code == 0
    assert f"run_id: {run_id}" in out and "state: SUCCEEDED" in out
    assert "params: epochs=10,lr=0.01" in out
    assert "latest_metrics: bleu=30.0 (step 0), loss=0.5 (step 0)" in out
    assert "outputs: translate_kr2en_v1 (./model/v1.pth)" in out
    code, out, _ = cli("runs", "metrics", project, run_id, "loss")
    assert out.splitlines()[0].split() == ["STEP", "VALUE", "TIME"]
    assert out.splitlines()[1].split()[:2] == ["0", "0.5"]
    code, _, err = cli("runs", "show", project, "no_such_run")
    assert code == 1 and err.startswith("error: NOT_FOUND: ")


def test_versions_compare_shows_the_differing_params(cli: Any, story: dict[str, Any]) -> None:
    project = story["project"]
    code, out, _ = cli("versions", "compare", project, "translate_kr2en", "1", "2", "3")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["translate_kr2en_v1", "translate_kr2en_v2", "translate_kr2en_v3"]
    labels = [r.split()[0] for r in rows]
    assert "params.lr" in labels and "params.epochs" not in labels
    lr_row = rows[labels.index("params.lr")].split()
    assert lr_row == ["params.lr", "*", "0.01", "0.005", "0.001"]
    assert rows[labels.index("artifact")].split()[1:] == [f"./model/v{n}.pth" for n in (1, 2, 3)]
    assert rows[labels.index("precision@test_a:v1")].split()[1:] == ["0.78", "0.81", "0.8"]
    assert rows[labels.index("precision@test_b:v1")].split()[1:] == ["0.6", "0.62", "0.7"]

    code, out, _ = cli("versions", "compare", project, "translate_kr2en", "1", "2", "--all")
    epochs = next(r for r in out.splitlines() if r.startswith("params.epochs"))
    assert epochs.split() == ["params.epochs", "10", "10"]

    code, out, _ = cli("--json", "versions", "compare", project, "translate_kr2en", "1", "3")
    compared = json.loads(out)
    assert [v["version"] for v in compared["versions"]] == [1, 3]
    assert [(p["key"], p["differs"]) for p in compared["params"]] == [
        ("epochs", False),
        ("lr", True),
    ]


def test_versions_best_and_rank(cli: Any, story: dict[str, Any]) -> None:
    project, test_a = story["project"], story["test_a"]
    code, out, _ = cli(
        "versions", "best", project, "translate_kr2en", "--metric", "precision",
        "--dataset", test_a,
    )  # fmt: skip
    assert code == 0 and "display_name: translate_kr2en_v2" in out
    code, out, _ = cli(
        "versions", "best", project, "translate_kr2en", "--metric", "precision",
        "--dataset", "test_b:v1",
    )  # fmt: skip
    assert "display_name: translate_kr2en_v3" in out
    code, out, _ = cli(
        "--json", "versions", "best", project, "--metric", "precision", "--dataset", test_a,
        "--goal", "min",
    )  # fmt: skip
    assert json.loads(out)["display_name"] == "translate_kr2en_v1"

    code, out, _ = cli("versions", "rank", project, "--metric", "precision", "--dataset", test_a)
    header, *rows = out.splitlines()
    assert header.split()[:3] == ["RANK", "MODEL_VERSION", "SCORE"]
    assert [r.split()[:3] for r in rows] == [
        ["1", "translate_kr2en_v2", "0.81"],
        ["2", "translate_kr2en_v3", "0.8"],
        ["3", "translate_kr2en_v1", "0.78"],
    ]
    code, _, err = cli(
        "versions", "best", project, "translate_kr2en", "--metric", "recall", "--dataset", test_a
    )
    assert code == 1 and err.startswith("error: NOT_FOUND: ") and "recall" in err


def test_datasets_list(cli: Any, story: dict[str, Any]) -> None:
    project = story["project"]
    code, out, _ = cli("datasets", "list", project)
    header, *rows = out.splitlines()
    assert header.split() == ["DATASET", "VERSION", "SPLIT", "BATCH_ID", "ROWS", "URI", "CREATED"]
    assert sorted(r.split()[:2] for r in rows) == [["test_a", "v1"], ["test_b", "v1"]]
    code, out, _ = cli("--json", "datasets", "list", project, "test_b")
    (only,) = json.loads(out)
    assert (only["dataset"], only["row_count"], only["schema"]) == ("test_b", 500, {"kr": "string"})
    code, _, err = cli("datasets", "create", project, "test_b", "--uri", "x", "--version", "v1")
    assert code == 1 and err.startswith("error: ALREADY_EXISTS: ")


def test_register_with_data_by_name_and_by_dataset_version(
    cli: Any, sync_client: modelreg.Client, project: str
) -> None:
    corpus = sync_client.create_dataset_version(project, "corpus", uri="s3://c", version="2024-q3")
    code, out, err = cli(
        "versions", "register", project, "m", "--artifact-uri", "./v1.pth",
        "--data", corpus.resource_name, "--data", "corpus:2024-q3:test",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert f"training_data: {corpus.resource_name}:TRAIN, {corpus.resource_name}:TEST" in out


def test_usage_errors(cli: Any, project: str) -> None:
    for argv in (
        ["runs", "list", project, "--dataset", "test_a:v1"],  # --dataset needs --metric
        ["versions", "best", project, "m", "--metric", "p"],  # --dataset is required
        ["versions", "rank", project, "--metric", "p", "--dataset", "d:v", "--goal", "up"],
        ["datasets", "create", project, "d"],  # --uri is required
    ):
        with pytest.raises(SystemExit) as exc:
            cli(*argv)
        assert exc.value.code == 2, argv


# Without a server


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        (
            "projects/p/datasets/d/versions/v1",
            DataRef(dataset_version="projects/p/datasets/d/versions/v1"),
        ),
        (
            "projects/p/datasets/d/versions/v1:validation",
            DataRef(dataset_version="projects/p/datasets/d/versions/v1", role=DataRole.VALIDATION),
        ),
        ("corpus:v1:test", DataRef("corpus", "v1", "", DataRole.TEST)),
        ("corpus:v1:b-7", DataRef("corpus", "v1", "b-7", DataRole.TRAIN)),  # the old batch id
        ("corpus:v1:b-7:test", DataRef("corpus", "v1", "b-7", DataRole.TEST)),
    ],
)
def test_data_references(text: str, ref: DataRef) -> None:
    assert data_ref(text) == ref


def test_data_reference_with_a_bad_role() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="role"):
        data_ref("projects/p/datasets/d/versions/v1:holdout")


def test_a_run_without_metrics_or_outputs_has_an_empty_row() -> None:
    from modelreg import _convert
    from modelreg.api.v1 import resources_pb2 as pb

    run = _convert.run(pb.Run(name="projects/p/runs/r", run_id="r", state=pb.Run.RUNNING))
    row = experiment_row(run, "", None)
    assert (row.model_version, row.metric, row.score, row.model_path) == ("", "", None, "")
    assert experiment_row(run, "", {}).score is None


def test_help_lists_the_tracking_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "datasets" in out and "runs" in out
