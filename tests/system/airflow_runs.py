"""What the system tests that run example DAGs with ``dag.test()`` read back: XCom values."""

from __future__ import annotations

from typing import Any


def xcom(dag_id: str, run_id: str, task_id: str) -> Any:
    """The return value ``task_id`` pushed in the run (None when it pushed none)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=run_id, dag_ids=dag_id, task_ids=task_id, key="return_value")
        ).first()
        return None if row is None else XComModel.deserialize_value(row)
