"""Least-privilege roles of an application database, and the SQL that provisions them.

Three roles beside the cluster's superuser, each with its own password (scram-sha-256):

- ``aqua_owner`` owns the database and its ``public`` schema: migrations run as it. Not a
  superuser, cannot create databases or roles.
- ``aqua_app`` is what the services connect as: ``SELECT``, ``INSERT``, ``UPDATE`` and
  ``DELETE`` on tables, ``USAGE`` on sequences, nothing else. Default privileges of the owner
  extend that to every table a later migration creates; ``CREATE TABLE`` and ``DROP`` fail.
- ``aqua_monitor`` is a member of ``pg_monitor`` and reads ``pg_stat_activity`` for the
  stack agent.

The SQL is idempotent: run it at every start, it creates what is missing, resets the
passwords and hands objects an earlier superuser-owned schema left behind to the owner::

    pg = PostgresServer(tmp, roles=DatabaseRoles.generate())
    pg.start()                         # provisions the roles after the server is ready
    pg.role_url(OWNER, pg.roles.owner) # where migrations connect
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

__all__ = ["APP", "MONITOR", "OWNER", "DatabaseRoles", "provision_sql", "quote_literal"]

OWNER = "aqua_owner"
APP = "aqua_app"
MONITOR = "aqua_monitor"


@dataclass(frozen=True)
class DatabaseRoles:
    """The passwords of the three roles (their names are fixed)."""

    owner: str
    app: str
    monitor: str

    @classmethod
    def generate(cls) -> DatabaseRoles:
        return cls(
            owner=secrets.token_urlsafe(24),
            app=secrets.token_urlsafe(24),
            monitor=secrets.token_urlsafe(24),
        )

    def password(self, role: str) -> str:
        return {OWNER: self.owner, APP: self.app, MONITOR: self.monitor}[role]


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def provision_sql(roles: DatabaseRoles, database: str) -> str:
    """SQL run by a superuser connected to ``database``: roles, ownership, grants."""
    attrs = "login nosuperuser nocreatedb nocreaterole noreplication nobypassrls"
    lines = []
    for name in (OWNER, APP, MONITOR):
        lines.append(
            f"do $$ begin if not exists (select from pg_roles where rolname = '{name}') "
            f"then create role {name}; end if; end $$;"
        )
        lines.append(
            f"alter role {name} with {attrs} password {quote_literal(roles.password(name))};"
        )
    lines += [
        f"grant pg_monitor to {MONITOR};",
        f'alter database "{database}" owner to {OWNER};',
        f'revoke all on database "{database}" from public;',
        f'grant connect on database "{database}" to {APP}, {MONITOR};',
        f"alter schema public owner to {OWNER};",
        "revoke all on schema public from public;",
        f"grant usage on schema public to {APP};",
        _REOWN,
        f"grant select, insert, update, delete on all tables in schema public to {APP};",
        f"grant usage, select on all sequences in schema public to {APP};",
        f"alter default privileges for role {OWNER} in schema public"
        f" grant select, insert, update, delete on tables to {APP};",
        f"alter default privileges for role {OWNER} in schema public"
        f" grant usage, select on sequences to {APP};",
    ]
    return "\n".join(lines) + "\n"


# Tables, views and types a superuser created before the roles existed go to the owner, so
# later migrations may alter them. Sequences owned by a column follow their table; the rest
# are handed over after the tables.
_REOWN = f"""
do $$
declare r record;
begin
  for r in select c.relkind, format('%I.%I', n.nspname, c.relname) as name
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm')
             and c.relowner <> '{OWNER}'::regrole loop
    execute format('alter %s %s owner to {OWNER}',
                   case r.relkind when 'v' then 'view' when 'm' then 'materialized view'
                   else 'table' end, r.name);
  end loop;
  for r in select format('%I.%I', n.nspname, c.relname) as name
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = 'public' and c.relkind = 'S'
             and c.relowner <> '{OWNER}'::regrole loop
    execute format('alter sequence %s owner to {OWNER}', r.name);
  end loop;
  for r in select format('%I.%I', n.nspname, t.typname) as name
           from pg_type t join pg_namespace n on n.oid = t.typnamespace
           where n.nspname = 'public' and t.typtype in ('e', 'd')
             and t.typowner <> '{OWNER}'::regrole loop
    execute format('alter type %s owner to {OWNER}', r.name);
  end loop;
end $$;"""  # noqa: S608 - only the constant role name is interpolated
