"""The migrations build exactly the tables the models describe, on SQLite and PostgreSQL."""

from pioneer.db import kernel_metadata
from pioneer.replica import replica_metadata
from pioneer.testing.schema import schema_drift
from stations.models import Base
from stations.service import StationsService


def test_models_match_migrations(db_url):
    metadatas = [Base.metadata, kernel_metadata, replica_metadata]
    assert schema_drift(db_url, StationsService.migrations, metadatas) == []
