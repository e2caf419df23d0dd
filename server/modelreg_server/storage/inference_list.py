"""ListInferenceRecords: a model's records, newest first by (event_time,
record_id), filtered, in keyset pages (storage/pagination.py tokens), each with its
feedback and ingest time."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_

from modelreg_server.domain import errors
from modelreg_server.domain import inference as inf
from modelreg_server.storage import models as model_q
from modelreg_server.storage import pagination
from modelreg_server.storage.inference import deployment_id, project_id
from modelreg_server.storage.store import Conn
from modelreg_server.storage.tables import deployments, inference_records

_R = inference_records
_KEYS = (_R.c.event_time, _R.c.record_id)
_READ = select(*_R.c, deployments.c.name.label("deployment_name")).select_from(
    _R.outerjoin(deployments, deployments.c.id == _R.c.deployment_id)
)


def _record(row: Any, model: str) -> inf.InferenceRecord:
    feedback = None
    if row.feedback_time is not None:
        feedback = inf.Feedback(row.true_value, row.true_label, row.feedback_time)
    return inf.InferenceRecord(
        record_id=str(row.record_id),
        model=model,
        version=row.version,
        deployment=row.deployment_name or "",
        event_time=row.event_time,
        request_id=row.request_id,
        inputs=None if row.inputs is None else json.dumps(row.inputs, separators=(",", ":")),
        outputs=None if row.outputs is None else json.dumps(row.outputs, separators=(",", ":")),
        predicted_value=row.predicted_value,
        predicted_label=row.predicted_label,
        latency_ms=row.latency_ms,
        attributes=row.attributes or {},
        ingest_time=row.ingest_time,
        feedback=feedback,
    )


async def list_records(
    conn: Conn, q: inf.RecordQuery, tokens: pagination.PageTokens
) -> tuple[list[inf.InferenceRecord], str]:
    size = pagination.page_size(q.page_size)
    mid = await model_q.id_of(conn, q.project, q.model)
    query = _READ.where(_R.c.model_id == mid)
    if q.version:
        query = query.where(_R.c.version == q.version)
    if q.deployment:
        pid = await project_id(conn, q.project)
        did, _ = await deployment_id(conn, q.project, pid, mid, q.deployment)
        query = query.where(_R.c.deployment_id == did)
    if q.start_time is not None:
        query = query.where(_R.c.event_time >= q.start_time)
    if q.end_time is not None:
        query = query.where(_R.c.event_time < q.end_time)
    if q.request_id:
        query = query.where(_R.c.request_id == q.request_id)
    if q.attributes:
        query = query.where(_R.c.attributes.contains(dict(q.attributes)))
    fp = pagination.fingerprint(
        q.project,
        q.model,
        q.version,
        q.deployment,
        q.start_time,
        q.end_time,
        q.request_id,
        sorted(q.attributes.items()),
    )
    if q.page_token:
        when, rid = tokens.decode(q.page_token, fp, 2)
        if not isinstance(when, datetime) or when.tzinfo is None or not isinstance(rid, str):
            raise errors.InvalidArgument("page_token", "page token from an older listing")
        query = query.where(tuple_(*_KEYS) < tuple_(when, uuid.UUID(rid)))
    query = query.order_by(_R.c.event_time.desc(), _R.c.record_id.desc()).limit(size + 1)
    rows = (await conn.execute(query)).all()
    token = ""
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        token = tokens.encode(fp, [last.event_time, str(last.record_id)])
    return [_record(r, q.model) for r in rows], token
