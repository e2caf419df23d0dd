"""What a client in another language sees on the wire: byte-identical immutable
fields from every call, reflection v1 and v1alpha, one default data role, and
paging on every list."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2

from modelreg.api.v1 import registry_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from tests.conftest import unique
from tests.support import ACTOR, dataset_version, tracking_stub


@pytest.fixture
def channel(target: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(target) as ch:
        yield ch


@pytest.fixture
def project(stub: Any) -> str:
    name = unique("wire")
    stub.CreateProject(rpc.CreateProjectRequest(project_id=name), timeout=10, metadata=ACTOR)
    return name


def _register(stub: Any, project: str, version: pb.ModelVersion) -> pb.ModelVersion:
    request = rpc.CreateModelVersionRequest(
        parent=f"projects/{project}/models/m", model_version=version, request_id=uuid.uuid4().hex
    )
    result: pb.ModelVersion = stub.CreateModelVersion(request, timeout=10, metadata=ACTOR)
    return result


CONFIGS = [
    # keys out of order, spaces, escapes, non-ASCII, nested, numbers in several spellings
    b'{"z": 1, "a": {"y": [3, 2, 1], "b": "x"}, "m": null}',
    '{"名前": "変換器", "emoji": "\U0001f600", "esc": "\\u00e9t\\u00e9", "tab": "a\\tb"}'.encode(),
    b'{\n  "layers": 6,\n  "dropout": 0.10,\n  "big": 12345678901234567890, "e": 1E3\n}',
    b"{}",
]


@pytest.mark.parametrize("raw", CONFIGS, ids=["order", "unicode", "numbers", "empty-object"])
def test_config_json_is_byte_identical_from_every_call(stub: Any, project: str, raw: bytes) -> None:
    created = _register(stub, project, pb.ModelVersion(
        artifact=pb.Artifact(uri="s3://b/m.pt"),
        architecture=pb.Architecture(name="t", config_json=raw),
    ))  # fmt: skip
    config = created.architecture.config_json
    # The canonical form: sorted keys, compact separators, UTF-8 (not \u escapes).
    value = json.loads(raw)
    assert config == json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    assert json.loads(config) == value
    got = stub.GetModelVersion(rpc.GetModelVersionRequest(name=created.name), timeout=10)
    listed = stub.ListModelVersions(
        rpc.ListModelVersionsRequest(parent=f"projects/{project}/models/m"), timeout=10
    )
    by_alias = stub.GetModelVersion(
        rpc.GetModelVersionRequest(name=f"projects/{project}/models/m/versions/latest"), timeout=10
    )
    assert got.architecture.config_json == config
    assert [v.architecture.config_json for v in listed.model_versions] == [config]
    assert by_alias.architecture.config_json == config


def test_no_config_stays_empty(stub: Any, project: str) -> None:
    created = _register(stub, project, pb.ModelVersion(artifact=pb.Artifact(uri="s3://b/m.pt")))
    got = stub.GetModelVersion(rpc.GetModelVersionRequest(name=created.name), timeout=10)
    assert created.architecture.config_json == got.architecture.config_json == b""


def test_a_lone_surrogate_in_config_is_invalid_argument(stub: Any, project: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        _register(stub, project, pb.ModelVersion(
            artifact=pb.Artifact(uri="s3://b/m.pt"),
            architecture=pb.Architecture(config_json=b'{"a": "\\ud800"}'),
        ))  # fmt: skip
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "config_json" in (info.value.details() or "")


def test_unset_data_role_is_train(stub: Any, project: str, target: str) -> None:
    with tracking_stub(target) as tracking:
        dataset_version(tracking, project, "corpus", "v1")
        held_out = dataset_version(tracking, project, "held_out", "v1").name
    created = _register(stub, project, pb.ModelVersion(
        artifact=pb.Artifact(uri="s3://b/m.pt"),
        training_data=[
            pb.DataRef(dataset="corpus", version="v1"),
            pb.DataRef(dataset_version=held_out, role=pb.DATA_ROLE_TEST),
        ],
    ))  # fmt: skip
    got = stub.GetModelVersion(rpc.GetModelVersionRequest(name=created.name), timeout=10)
    for v in (created, got):
        assert [(r.dataset, r.role, r.dataset_version) for r in v.training_data] == [
            ("corpus", pb.DATA_ROLE_TRAIN, f"projects/{project}/datasets/corpus/versions/v1"),
            ("held_out", pb.DATA_ROLE_TEST, held_out),
        ]


def test_unknown_enum_number_is_invalid_argument(stub: Any, project: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        _register(stub, project, pb.ModelVersion(
            artifact=pb.Artifact(uri="s3://b/m.pt"),
            training_data=[pb.DataRef(dataset="corpus", role=42)],  # type: ignore[arg-type]
        ))  # fmt: skip
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "training_data[0].role" in (info.value.details() or "")


def test_list_aliases_pages(stub: Any, project: str) -> None:
    _register(stub, project, pb.ModelVersion(artifact=pb.Artifact(uri="s3://b/m.pt")))
    parent = f"projects/{project}/models/m"
    names = [f"a{i:02d}" for i in range(7)]
    for name in reversed(names):
        stub.SetAlias(
            rpc.SetAliasRequest(parent=parent, alias=name, version="1"), timeout=10, metadata=ACTOR
        )
    seen: list[str] = []
    tokens: list[str] = []
    while True:
        page = stub.ListAliases(
            rpc.ListAliasesRequest(
                parent=parent, page_size=3, page_token=tokens[-1] if tokens else ""
            ),
            timeout=10,
        )
        seen += [a.alias for a in page.aliases]
        if not page.next_page_token:
            break
        tokens.append(page.next_page_token)
    assert (seen, len(tokens)) == (names, 2)
    everything = stub.ListAliases(rpc.ListAliasesRequest(parent=parent), timeout=10)
    assert [a.alias for a in everything.aliases] == names
    # A token continues only the listing it came from.
    other = stub.CreateModel(
        rpc.CreateModelRequest(parent=f"projects/{project}", model_id="other"),
        timeout=10,
        metadata=ACTOR,
    )
    with pytest.raises(grpc.RpcError) as info:
        stub.ListAliases(
            rpc.ListAliasesRequest(parent=other.name, page_token=tokens[0]), timeout=10
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _reflect(channel: grpc.Channel, service: str, request: Any) -> Any:
    call = channel.stream_stream(
        f"/{service}/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    (response,) = list(call(iter([request]), timeout=10))
    return response


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection_lists_the_services(channel: grpc.Channel, version: str) -> None:
    # The v1 messages are the v1alpha ones under another package: same bytes.
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    response = _reflect(channel, f"grpc.reflection.{version}.ServerReflection", request)
    names = {s.name for s in response.list_services_response.service}
    assert {
        "modelreg.api.v1.RegistryService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names


def test_reflection_v1_describes_the_api_and_itself(channel: grpc.Channel) -> None:
    for symbol, file_name in (
        ("modelreg.api.v1.RegistryService", "modelreg/api/v1/registry_service.proto"),
        ("grpc.reflection.v1.ServerReflection", "grpc/reflection/v1/reflection.proto"),
    ):
        request = reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)
        response = _reflect(channel, "grpc.reflection.v1.ServerReflection", request)
        files = [
            descriptor_pb2.FileDescriptorProto.FromString(raw)
            for raw in response.file_descriptor_response.file_descriptor_proto
        ]
        assert file_name in {f.name for f in files}


def test_label_not_equal_also_matches_resources_without_the_label(stub: Any) -> None:
    prefix = unique("lbl")
    for suffix, labels in (("a", {"team": "a"}), ("b", {"team": "b"}), ("c", {})):
        project = pb.Project(labels=labels)
        stub.CreateProject(
            rpc.CreateProjectRequest(project_id=f"{prefix}_{suffix}", project=project),
            timeout=10,
            metadata=ACTOR,
        )
    scope = f'name >= "{prefix}" AND name < "{prefix}~"'
    for filter_text, expected in (
        (f'{scope} AND labels.team != "a"', ["b", "c"]),
        (f'{scope} AND labels.team = "a"', ["a"]),
        (f'{scope} AND labels.team > "a"', ["b"]),
    ):
        page = stub.ListProjects(rpc.ListProjectsRequest(filter=filter_text), timeout=10)
        assert [p.name.rsplit("_", 1)[1] for p in page.projects] == expected, filter_text


@pytest.mark.parametrize(
    ("metadata", "actor"),
    [
        ((), "anonymous"),
        ((("modelreg-actor", ""),), "anonymous"),
        ((("modelreg-actor", "ci-bot"),), "ci-bot"),
    ],
)
def test_actor_metadata(stub: Any, project: str, metadata: Any, actor: str) -> None:
    request = rpc.CreateModelVersionRequest(
        parent=f"projects/{project}/models/m",
        model_version=pb.ModelVersion(artifact=pb.Artifact(uri="s3://b/m.pt")),
    )
    created = stub.CreateModelVersion(request, timeout=10, metadata=metadata)
    assert created.created_by == actor
