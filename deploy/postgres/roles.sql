-- Vitrine's two roles in a shop's PostgreSQL database, least privilege (docs/deploying.md):
--   vitrine_reader  reads the shop's orders: SELECT on the tables of the shop's schema and nothing
--                   else; every transaction of the role is read-only by default.
--   vitrine_export  writes the exported lists (python -m recommend export), only into a schema of its
--                   own, vitrine_export (its search_path), and can neither read nor write the shop's tables.
--
-- Run it with psql (15 or newer, for \getenv) as a role that may create roles and grant on the shop's
-- tables (the bootstrap superuser, or the tables' owner with CREATEROLE), connected to the shop's
-- database. The passwords come from the environment (or psql -v variables), never from this file:
--   VITRINE_READER_PASSWORD=... VITRINE_EXPORT_PASSWORD=... psql -d shop -f deploy/postgres/roles.sql
-- In compose.yaml, put it in /docker-entrypoint-initdb.d/ with those two variables on the db service.
-- Optional variables (psql -v NAME=VALUE): shop_schema (default public), reader_role, export_role,
-- export_schema (defaults as above), serve_role (a role of the shop's back end that may then SELECT
-- the exported lists). Safe to run again: it creates what is missing and sets passwords and grants again.
-- Tables created later by another role than the one running this need a new run, or
-- ALTER DEFAULT PRIVILEGES FOR ROLE that_owner IN SCHEMA public GRANT SELECT ON TABLES TO vitrine_reader.

\set ON_ERROR_STOP on
\set QUIET on
SET client_min_messages = warning;

\if :{?reader_password}
\else
\getenv reader_password VITRINE_READER_PASSWORD
\endif
\if :{?export_password}
\else
\getenv export_password VITRINE_EXPORT_PASSWORD
\endif
\if :{?reader_password}
\else
\set reader_password ''
\endif
\if :{?export_password}
\else
\set export_password ''
\endif
\if :{?shop_schema}
\else
\set shop_schema public
\endif
\if :{?reader_role}
\else
\set reader_role vitrine_reader
\endif
\if :{?export_role}
\else
\set export_role vitrine_export
\endif
\if :{?export_schema}
\else
\set export_schema vitrine_export
\endif

-- Keep the passwords out of the server's log, where the running role may say so (a superuser).
DO $$ BEGIN
  SET log_statement = 'none';
  SET log_min_duration_statement = -1;
  SET log_min_error_statement = panic;
EXCEPTION WHEN insufficient_privilege THEN NULL;
END $$;

-- No password may be empty (a role without one could not log in with password authentication,
-- and an empty variable means the environment was not set).
SELECT :'reader_password' = '' OR :'export_password' = '' AS missing_password \gset
\if :missing_password
DO $$ BEGIN RAISE EXCEPTION 'set VITRINE_READER_PASSWORD and VITRINE_EXPORT_PASSWORD (or psql -v reader_password=... -v export_password=...)'; END $$;
\endif

BEGIN;

SELECT format('CREATE ROLE %I', :'reader_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'reader_role') \gexec
SELECT format('CREATE ROLE %I', :'export_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'export_role') \gexec

ALTER ROLE :"reader_role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'reader_password';
ALTER ROLE :"export_role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'export_password';
-- A second lock beside Vitrine's own read-only transaction: the reader's sessions start read-only.
ALTER ROLE :"reader_role" SET default_transaction_read_only = on;

SELECT current_database() AS shop_database \gset
GRANT CONNECT ON DATABASE :"shop_database" TO :"reader_role", :"export_role";

-- The reader: SELECT on the shop's tables (those there now, and those this role creates later).
GRANT USAGE ON SCHEMA :"shop_schema" TO :"reader_role";
GRANT SELECT ON ALL TABLES IN SCHEMA :"shop_schema" TO :"reader_role";
ALTER DEFAULT PRIVILEGES IN SCHEMA :"shop_schema" GRANT SELECT ON TABLES TO :"reader_role";

-- The exporter: its own schema, first (and only) on its search_path, so the export's tables land there.
CREATE SCHEMA IF NOT EXISTS :"export_schema" AUTHORIZATION :"export_role";
ALTER SCHEMA :"export_schema" OWNER TO :"export_role";
REVOKE ALL ON SCHEMA :"export_schema" FROM PUBLIC;
ALTER ROLE :"export_role" SET search_path = :"export_schema";

\if :{?serve_role}
GRANT USAGE ON SCHEMA :"export_schema" TO :"serve_role";
GRANT SELECT ON ALL TABLES IN SCHEMA :"export_schema" TO :"serve_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"export_role" IN SCHEMA :"export_schema" GRANT SELECT ON TABLES TO :"serve_role";
\endif

COMMIT;
