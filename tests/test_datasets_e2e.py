"""Datasets and their versions over real gRPC: create (ids made and given, every
field, parents, labels), get, list (paging, filters), and bad input that names
its field and writes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from modelreg.api.v1 import resources_pb2 as pb
from modelreg.api.v1 import tracking_service_pb2 as rpc
from tests.support import ACTOR, dataset_version, insert_run, sql, tracking_stub

T = 10


@pytest.fixture
def tracking(target: str) -> Iterator[Any]:
    with tracking_stub(target) as stub:
        yield stub


def _ts(text: str) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(datetime.fromisoformat(text).replace(tzinfo=timezone.utc))
    return ts


def _code(call: Any, request: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=T, metadata=ACTOR)
    return info.value.code(), info.value.details() or ""


def _counts(database_url: str, project: str) -> tuple[int, int, int, int]:
    (row,) = sql(
        database_url,
        "SELECT (SELECT count(*) FROM datasets s JOIN projects p ON p.id = s.project_id "
        "        WHERE p.name = $1) AS d,"
        " (SELECT coalesce(sum(version_count), 0) FROM datasets s JOIN projects p "
        "        ON p.id = s.project_id WHERE p.name = $1) AS c,"
        " (SELECT count(*) FROM dataset_versions v JOIN datasets s ON s.id = v.dataset_id"
        "  JOIN projects p ON p.id = s.project_id WHERE p.name = $1) AS v,"
        " (SELECT count(*) FROM dataset_version_labels) AS l",
        project,
    )
    return row["d"], row["c"], row["v"], row["l"]


def test_create_with_every_field_and_read_it_back(tracking: Any, project: str) -> None:
    parent = dataset_version(tracking, project, "raw", "2024-09-01")
    got = dataset_version(
        tracking,
        project,
        "train",
        "v1.2",
        uri="s3://d/train.parquet",
        digest="sha256:" + "ab" * 32,
        row_count=0,
        schema_json=b'{"b": [1, 2], "a": "x"}',
        description="cleaned",
        split="train",
        batch_id="2024-11-06",
        data_start_time=_ts("2024-11-06T00:00:00"),
        data_end_time=_ts("2024-11-07T00:00:00"),
        parents=[parent.name],
        labels={"team": "nlp"},
    )
    assert got.name == f"projects/{project}/datasets/train/versions/v1.2"
    assert (got.dataset, got.version) == ("train", "v1.2")
    assert got.HasField("row_count") and got.row_count == 0
    assert got.schema_json == b'{"a":"x","b":[1,2]}'
    assert got.parents == [parent.name]
    assert dict(got.labels) == {"team": "nlp"}
    assert got.created_by == "tester"
    assert got.data_end_time.ToDatetime() == datetime(2024, 11, 7)
    again = tracking.GetDatasetVersion(rpc.GetDatasetVersionRequest(name=got.name), timeout=T)
    assert again == got
    plain = tracking.GetDatasetVersion(rpc.GetDatasetVersionRequest(name=parent.name), timeout=T)
    assert not plain.HasField("row_count") and not plain.HasField("data_start_time")
    ds = tracking.GetDataset(rpc.GetDatasetRequest(name=f"projects/{project}/datasets/train"))
    assert ds.version_count == 1


def test_ids_are_made_skipping_taken_ones_and_given_ones_are_unique(
    tracking: Any, project: str, database_url: str
) -> None:
    assert dataset_version(tracking, project, "d").version == "v1"
    assert dataset_version(tracking, project, "d", "v2").version == "v2"
    assert dataset_version(tracking, project, "d").version == "v3"  # v2 was taken
    before = _counts(database_url, project)
    code, details = _code(
        tracking.CreateDatasetVersion,
        rpc.CreateDatasetVersionRequest(
            parent=f"projects/{project}/datasets/d",
            version_id="v2",
            dataset_version=pb.DatasetVersion(uri="s3://x"),
        ),
    )
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert f"projects/{project}/datasets/d/versions/v2" in details
    assert _counts(database_url, project) == before
    ds = tracking.GetDataset(rpc.GetDatasetRequest(name=f"projects/{project}/datasets/d"))
    assert ds.version_count == 3
    assert ds.update_time.ToDatetime() >= ds.create_time.ToDatetime()


def test_request_id_replays_and_refuses_another_payload(tracking: Any, project: str) -> None:
    def create(uri: str) -> Any:
        return tracking.CreateDatasetVersion(
            rpc.CreateDatasetVersionRequest(
                parent=f"projects/{project}/datasets/d",
                dataset_version=pb.DatasetVersion(uri=uri),
                request_id="rid-1",
            ),
            metadata=ACTOR,
            timeout=T,
        )

    first = create("s3://a")
    assert create("s3://a") == first
    with pytest.raises(grpc.RpcError) as info:
        create("s3://b")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_id" in (info.value.details() or "")
    listed = tracking.ListDatasetVersions(
        rpc.ListDatasetVersionsRequest(parent=f"projects/{project}/datasets/d"), timeout=T
    )
    assert [v.version for v in listed.dataset_versions] == ["v1"]


BAD: list[tuple[dict[str, Any], str]] = [
    ({"uri": ""}, "dataset_version.uri"),
    ({"uri": "s3://" + "x" * 2048}, "dataset_version.uri"),
    ({"uri": "s3://a\x00b"}, "dataset_version.uri"),
    ({"digest": "sha256"}, "dataset_version.digest"),
    ({"digest": "SHA256:abc"}, "dataset_version.digest"),
    ({"digest": "sha256:ABC"}, "dataset_version.digest"),
    ({"digest": "sha256:" + "a" * 129}, "dataset_version.digest"),
    ({"digest": "a" * 17 + ":ab"}, "dataset_version.digest"),
    ({"row_count": -1}, "dataset_version.row_count"),
    ({"schema_json": b"{"}, "dataset_version.schema_json"),
    ({"schema_json": b"[1]"}, "dataset_version.schema_json"),
    ({"description": "x" * 10_001}, "dataset_version.description"),
    ({"split": "x" * 65}, "dataset_version.split"),
    ({"batch_id": "x" * 257}, "dataset_version.batch_id"),
    (
        {
            "data_start_time": _ts("2024-02-01T00:00:00"),
            "data_end_time": _ts("2024-01-01T00:00:00"),
        },
        "dataset_version.data_end_time",
    ),
    # The calendar's first and last microsecond would be stored as -infinity and infinity.
    ({"data_start_time": Timestamp(seconds=-62_135_596_800)}, "dataset_version.data_start_time"),
    (
        {"data_end_time": Timestamp(seconds=253_402_300_799, nanos=999_999_999)},
        "dataset_version.data_end_time",
    ),
    ({"parents": ["nope"]}, "dataset_version.parents[0]"),
    ({"parents": ["projects/p/datasets/d/versions/-x"]}, "dataset_version.parents[0]"),
    ({"parents": ["projects/nobody/datasets/d/versions/v1"]}, "dataset_version.parents[0]"),
    ({"labels": {"Bad": "x"}}, "dataset_version.labels['Bad']"),
    ({"labels": {"k": "x" * 257}}, "dataset_version.labels['k']"),
]


@pytest.mark.parametrize(("fields", "field"), BAD, ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD)])
def test_bad_field_is_named_and_nothing_is_written(
    tracking: Any, project: str, database_url: str, fields: dict[str, Any], field: str
) -> None:
    before = _counts(database_url, project)
    version = pb.DatasetVersion(uri="s3://ok")
    for key, value in fields.items():
        if key in ("parents",):
            version.parents.extend(value)
        elif key == "labels":
            version.labels.update(value)
        elif key in ("data_start_time", "data_end_time"):
            getattr(version, key).CopyFrom(value)
        else:
            setattr(version, key, value)
    code, details = _code(
        tracking.CreateDatasetVersion,
        rpc.CreateDatasetVersionRequest(
            parent=f"projects/{project}/datasets/d", dataset_version=version
        ),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details
    assert details.startswith(field), details
    assert _counts(database_url, project) == before


@pytest.mark.parametrize(
    ("parent", "version_id", "field"),
    [
        ("projects/p", "", "parent"),
        ("projects/p/datasets/-", "", "parent"),
        ("projects/p/datasets/Bad", "", "parent"),
        ("projects/p/datasets/d", "-v", "version_id"),
        ("projects/p/datasets/d", "v/1", "version_id"),
        ("projects/p/datasets/d", "x" * 129, "version_id"),
    ],
)
def test_bad_parent_or_version_id(tracking: Any, parent: str, version_id: str, field: str) -> None:
    code, details = _code(
        tracking.CreateDatasetVersion,
        rpc.CreateDatasetVersionRequest(
            parent=parent, version_id=version_id, dataset_version=pb.DatasetVersion(uri="s3://x")
        ),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith(field)


def test_not_found_names_what_is_missing(tracking: Any, project: str) -> None:
    code, details = _code(
        tracking.CreateDatasetVersion,
        rpc.CreateDatasetVersionRequest(
            parent="projects/no_such_project/datasets/d",
            dataset_version=pb.DatasetVersion(uri="s3://x"),
        ),
    )
    assert (code, details) == (
        grpc.StatusCode.NOT_FOUND,
        "project not found: projects/no_such_project",
    )
    dataset_version(tracking, project, "d", "v1")
    for name, kind in [
        ("projects/no_such_project/datasets/d/versions/v1", "project"),
        (f"projects/{project}/datasets/e/versions/v1", "dataset"),
        (f"projects/{project}/datasets/d/versions/v2", "dataset version"),
    ]:
        code, details = _code(tracking.GetDatasetVersion, rpc.GetDatasetVersionRequest(name=name))
        assert code == grpc.StatusCode.NOT_FOUND
        assert details.startswith(f"{kind} not found"), details
    code, details = _code(
        tracking.GetDataset, rpc.GetDatasetRequest(name=f"projects/{project}/datasets/e")
    )
    assert (code, details) == (
        grpc.StatusCode.NOT_FOUND,
        f"dataset not found: projects/{project}/datasets/e",
    )
    code, _ = _code(
        tracking.ListDatasetVersions,
        rpc.ListDatasetVersionsRequest(parent=f"projects/{project}/datasets/e"),
    )
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = _code(
        tracking.ListDatasets, rpc.ListDatasetsRequest(parent="projects/no_such_project")
    )
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = _code(
        tracking.GetDatasetVersion, rpc.GetDatasetVersionRequest(name="projects/x/datasets/d")
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def _list(tracking: Any, parent: str, **kw: Any) -> list[str]:
    names: list[str] = []
    token = ""
    while True:
        page = tracking.ListDatasetVersions(
            rpc.ListDatasetVersionsRequest(parent=parent, page_token=token, **kw), timeout=T
        )
        names += [f"{v.dataset}/{v.version}" for v in page.dataset_versions]
        token = page.next_page_token
        if not token:
            return names


def test_list_pages_oldest_first_per_dataset_and_across_the_project(
    tracking: Any, project: str
) -> None:
    made = []
    for _ in range(5):
        for ds in ("a", "b"):
            made.append(f"{ds}/{dataset_version(tracking, project, ds).version}")
    assert _list(tracking, f"projects/{project}/datasets/-", page_size=3) == made
    assert _list(tracking, f"projects/{project}/datasets/a", page_size=2) == [
        m for m in made if m.startswith("a/")
    ]
    page = tracking.ListDatasets(rpc.ListDatasetsRequest(parent=f"projects/{project}", page_size=1))
    assert [d.name.rsplit("/", 1)[1] for d in page.datasets] == ["a"]
    rest = tracking.ListDatasets(
        rpc.ListDatasetsRequest(parent=f"projects/{project}", page_token=page.next_page_token)
    )
    assert [(d.name.rsplit("/", 1)[1], d.version_count) for d in rest.datasets] == [("b", 5)]
    assert not rest.next_page_token
    # A token of one listing does not continue another.
    first = tracking.ListDatasetVersions(
        rpc.ListDatasetVersionsRequest(parent=f"projects/{project}/datasets/a", page_size=1)
    )
    code, details = _code(
        tracking.ListDatasetVersions,
        rpc.ListDatasetVersionsRequest(
            parent=f"projects/{project}/datasets/b", page_token=first.next_page_token
        ),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("page_token")
    code, details = _code(
        tracking.ListDatasetVersions,
        rpc.ListDatasetVersionsRequest(parent=f"projects/{project}/datasets/a", page_size=-1),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("page_size")


def test_filters(tracking: Any, project: str, database_url: str) -> None:
    dataset_version(
        tracking, project, "batches", "b1", batch_id="2024-11-01", split="train", row_count=10,
        digest="sha256:aa", labels={"src": "web"},
        data_start_time=_ts("2024-11-01T00:00:00"),
    )  # fmt: skip
    dataset_version(tracking, project, "batches", "b2", batch_id="2024-11-02", split="test")
    dataset_version(tracking, project, "other", "o1", split="train", row_count=99)
    every = f"projects/{project}/datasets/-"
    cases = {
        'batch_id = "2024-11-01"': ["batches/b1"],
        'batch_id >= "2024-11-01"': ["batches/b1", "batches/b2"],
        'split = "train"': ["batches/b1", "other/o1"],
        'dataset = "other"': ["other/o1"],
        'version != "b1"': ["batches/b2", "other/o1"],
        "row_count > 50": ["other/o1"],
        "row_count != 10": ["batches/b2", "other/o1"],
        'digest = "sha256:aa"': ["batches/b1"],
        'uri = "s3://data/other/o1"': ["other/o1"],
        'created_by = "tester" AND split = "test"': ["batches/b2"],
        'labels.src = "web"': ["batches/b1"],
        'labels.src != "web"': ["batches/b2", "other/o1"],
        'data_start_time >= "2024-11-01T00:00:00Z"': ["batches/b1"],
        'create_time > "2000-01-01T00:00:00Z"': ["batches/b1", "batches/b2", "other/o1"],
        'data_end_time < "2030-01-01T00:00:00Z"': [],
        # Injection attempts are values, never SQL.
        'split = "train\'; DROP TABLE dataset_versions; --"': [],
        "labels.src = \"x' OR '1'='1\"": [],
    }
    for text, expected in cases.items():
        assert _list(tracking, every, filter=text) == expected, text
    for bad in [
        "nope = 1",
        "split = 1",
        'row_count = "x"',
        'split = "train" OR 1 = 1',
        'split = "train"; DELETE FROM datasets',
        'create_time > "yesterday"',
        'labels. = "x"',
    ]:
        code, details = _code(
            tracking.ListDatasetVersions, rpc.ListDatasetVersionsRequest(parent=every, filter=bad)
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT, bad
        assert details.startswith("filter"), bad
    (row,) = sql(database_url, "SELECT count(*) AS n FROM dataset_versions")
    assert row["n"] >= 3


def test_schema_is_stored_canonically(tracking: Any, project: str) -> None:
    schema = {"z": 1, "a": {"名": "é"}}
    got = dataset_version(tracking, project, "d", schema_json=json.dumps(schema).encode())
    assert (
        got.schema_json
        == json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )


def test_parents_from_another_project_are_recorded(
    tracking: Any, project: str, sync_client: Any, database_url: str
) -> None:
    other = project + "_o"
    sync_client.create_project(other)
    raw = dataset_version(tracking, other, "raw", "v1")
    mine = dataset_version(tracking, project, "clean", parents=[raw.name, raw.name])
    assert list(mine.parents) == [raw.name, raw.name]
    rows = sql(
        database_url,
        "SELECT position, parent_id FROM dataset_version_parents p "
        "JOIN dataset_versions v ON v.id = p.child_id JOIN datasets s ON s.id = v.dataset_id "
        "JOIN projects pr ON pr.id = s.project_id WHERE pr.name = $1 ORDER BY position",
        project,
    )
    assert [r["position"] for r in rows] == [1, 2]


# Model versions referencing dataset versions and runs


def test_versions_reference_dataset_versions_and_runs(
    tracking: Any, sync_client: Any, project: str, database_url: str
) -> None:
    from modelreg.api.v1 import registry_service_pb2 as reg

    other = project + "_o"
    sync_client.create_project(other)
    shared = dataset_version(tracking, other, "shared", "v1", batch_id="b-9").name
    mine = dataset_version(tracking, project, "mine", "2024-09-01")
    run_here = insert_run(database_url, project, "run_001")
    run_there = insert_run(database_url, other, "run_001")

    def register(**fields: Any) -> pb.ModelVersion:
        return sync_client.stub.CreateModelVersion(  # type: ignore[no-any-return]
            reg.CreateModelVersionRequest(
                parent=f"projects/{project}/models/m",
                model_version=pb.ModelVersion(artifact=pb.Artifact(uri="s3://m"), **fields),
            ),
            metadata=ACTOR,
            timeout=T,
        )

    v1 = register(
        training_data=[
            pb.DataRef(dataset_version=shared, role=pb.DATA_ROLE_VALIDATION),
            pb.DataRef(dataset="mine", version="2024-09-01"),
        ],
        source_run="run_001",
    )
    assert [(r.dataset, r.version, r.batch_id, r.dataset_version) for r in v1.training_data] == [
        ("shared", "v1", "b-9", shared),
        ("mine", "2024-09-01", "", mine.name),
    ]
    assert v1.source_run == run_here  # a run id is of the version's project
    v2 = register(source_run=run_there)
    assert v2.source_run == run_there
    rows = sql(
        database_url,
        "SELECT v.version, r.name, rp.name AS project FROM model_versions v "
        "JOIN runs r ON r.id = v.run_id JOIN projects rp ON rp.id = r.project_id "
        "JOIN models m ON m.id = v.model_id JOIN projects p ON p.id = m.project_id "
        "WHERE p.name = $1 ORDER BY v.version",
        project,
    )
    assert [(r["version"], r["name"], r["project"]) for r in rows] == [
        (1, "run_001", project),
        (2, "run_001", other),
    ]
    data = sql(
        database_url,
        "SELECT d.position, d.batch_id, d.dataset_version_id IS NOT NULL AS linked "
        "FROM model_version_data d JOIN model_versions v ON v.id = d.version_id "
        "JOIN models m ON m.id = v.model_id JOIN projects p ON p.id = m.project_id "
        "WHERE p.name = $1 ORDER BY d.position",
        project,
    )
    assert [(r["position"], r["batch_id"], r["linked"]) for r in data] == [
        (1, "b-9", True),
        (2, "", True),
    ]
    # Both references must agree when both ways are given.
    with pytest.raises(grpc.RpcError) as info:
        register(training_data=[pb.DataRef(dataset="other", dataset_version=mine.name)])
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (info.value.details() or "").startswith("model_version.training_data[0]")

    def listed(text: str) -> list[int]:
        page = sync_client.stub.ListModelVersions(
            reg.ListModelVersionsRequest(parent=f"projects/{project}/models/m", filter=text),
            timeout=T,
        )
        return [v.version for v in page.model_versions]

    assert listed(f'training_data.dataset_version = "{shared}"') == [1]
    assert listed(f'training_data.dataset_version != "{shared}"') == [2]
    assert listed('training_data.batch_id = "b-9"') == [1]
    assert listed('training_data.dataset = "mine"') == [1]
    assert listed(f'source_run = "{run_there}"') == [2]
