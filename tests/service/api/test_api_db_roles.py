"""The API on PostgreSQL's least-privilege roles: it migrates as the owner and serves as the
app role, which may read and write rows but not change the schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from api.api_harness import harness_fixture, running_api, series, settings_for

pytestmark = pytest.mark.integration


def test_the_api_migrates_as_the_owner_and_serves_as_the_app_role(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    harness_fixture(request, "postgres_server")  # same binaries; this test needs its own roles
    from sre_cli.infra.pgroles import APP, OWNER, DatabaseRoles
    from sre_cli.infra.postgres import PostgresServer
    from sre_cli.infra.process import free_port

    roles = DatabaseRoles.generate()
    driver = "postgresql+asyncpg"
    with PostgresServer(tmp_path / "pg", port=free_port(), roles=roles) as pg:
        settings = settings_for(
            pg.role_url(APP, roles.app, driver=driver),
            database_migration_url=pg.role_url(OWNER, roles.owner, driver=driver),
        )
        with running_api(settings) as api:
            farm = api.farm("north")
            pond = api.pond(farm)
            api.ingest(pond, series("dissolved_oxygen", [6.0, 5.5]))
            r = api.client.get(f"/api/v1/ponds/{pond}/readings", headers=api.auth("viewer"))
            assert r.status_code == 200, r.text
        owners = pg.psql("select distinct tableowner from pg_tables where schemaname = 'public'")
        assert owners == OWNER
        grants = pg.psql(
            "select string_agg(distinct privilege_type, ',' order by privilege_type) "
            f"from information_schema.role_table_grants where grantee = '{APP}'"
        )
        assert grants == "DELETE,INSERT,SELECT,UPDATE"


def test_without_a_migration_url_the_app_role_cannot_migrate(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The app role alone cannot create the schema: the failure shows at start."""
    harness_fixture(request, "postgres_server")
    from sre_cli.infra.pgroles import APP, DatabaseRoles
    from sre_cli.infra.postgres import PostgresServer
    from sre_cli.infra.process import free_port

    roles = DatabaseRoles.generate()
    with PostgresServer(tmp_path / "pg", port=free_port(), roles=roles) as pg:
        settings = settings_for(pg.role_url(APP, roles.app, driver="postgresql+asyncpg"))
        with pytest.raises(Exception, match="permission denied"), running_api(settings):
            pass
        assert pg.psql("select count(*) from pg_tables where schemaname = 'public'") == "0"
