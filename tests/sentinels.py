"""Sentinel messages: every field set to a distinct, non-default, valid value."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

NAMES = {
    "Project": "projects/p_sentinel",
    "Model": "projects/p_sentinel/models/m_sentinel",
    "ModelVersion": "projects/p_sentinel/models/m_sentinel/versions/7",
    "Alias": "projects/p_sentinel/models/m_sentinel/aliases/a_sentinel",
    "Dataset": "projects/p_sentinel/datasets/d_sentinel",
    "DatasetVersion": "projects/p_sentinel/datasets/train/versions/v1",
    "Run": "projects/p_sentinel/runs/run_1",
    "Deployment": "projects/p_sentinel/deployments/dep_1",
    "Evaluation": "projects/p_sentinel/models/m_sentinel/versions/7/evaluations/e_1",
    "PipelineRun": "projects/p_sentinel/pipelines/pl_1/runs/r_1",
    "Pipeline": "projects/p_sentinel/pipelines/d_sentinel",
}


class Sentinels:
    """Distinct values, one per call."""

    def __init__(self) -> None:
        self.n = 0

    def next(self) -> int:
        self.n += 1
        return self.n

    def scalar(self, message: Descriptor, field: FieldDescriptor) -> Any:
        n = self.next()
        if field.name == "name" and message.name in NAMES:
            return NAMES[message.name]
        if field.name in ("config_json", "schema_json"):
            return json.dumps({f"key{n}": n}).encode()
        if field.enum_type is not None:
            return field.enum_type.values[-1].number
        if field.type == FieldDescriptor.TYPE_BOOL:
            return True
        if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return n + 0.5
        if field.type == FieldDescriptor.TYPE_STRING:
            return f"s{n}"
        if field.type == FieldDescriptor.TYPE_BYTES:
            return f"b{n}".encode()
        return n  # the integer types

    def fill(self, msg: Message) -> Message:
        desc = msg.DESCRIPTOR
        if desc.full_name == "google.protobuf.Timestamp":
            n = self.next()
            msg.seconds = 1_700_000_000 + n * 1_000  # type: ignore[attr-defined]
            msg.nanos = n * 1_000  # type: ignore[attr-defined]
            return msg
        if desc.name == "ParamValue":
            msg.int_value = self.next()  # type: ignore[attr-defined]
            return msg
        for field in desc.fields:
            if field.containing_oneof is not None and msg.WhichOneof(field.containing_oneof.name):
                continue
            value = getattr(msg, field.name)
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                self.fill_map(value, field.message_type.fields_by_name["value"])
            elif field.is_repeated:
                for _ in range(2):
                    if field.message_type is not None:
                        self.fill(value.add())
                    else:
                        value.append(self.scalar(desc, field))
            elif field.message_type is not None:
                self.fill(value)
            else:
                setattr(msg, field.name, self.scalar(desc, field))
        return msg

    def fill_map(self, mapping: Any, value_field: FieldDescriptor) -> None:
        if value_field.type == FieldDescriptor.TYPE_STRING:
            for _ in range(2):
                mapping[f"k{self.next()}"] = f"v{self.next()}"
        elif value_field.message_type is None:
            for _ in range(2):
                mapping[f"k{self.next()}"] = self.scalar(value_field.containing_type, value_field)
        elif value_field.message_type.name == "ParamValue":
            # One entry per member of the oneof, so every kind of value is converted.
            for member in value_field.message_type.oneofs_by_name["kind"].fields:
                entry = mapping[f"{member.name}{self.next()}"]
                setattr(entry, member.name, self.scalar(value_field.message_type, member))
        else:
            self.fill(mapping[f"k{self.next()}"])


def sentinel(message: type[Message]) -> Message:
    return Sentinels().fill(message())
