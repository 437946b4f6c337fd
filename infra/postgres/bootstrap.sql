-- Idempotent bootstrap of the platform's database, run by `./cli.sh setup-db ENV` (psql on the
-- local cluster) and by the compose postgres service's init script. Variables (psql -v):
--   db, app_user, app_password, ro_user, ro_password
\set ON_ERROR_STOP on

-- Roles: created once, passwords (re)set every time so the recorded .env file stays true.
SELECT format('CREATE ROLE %I LOGIN', :'app_user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_user') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'ro_user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'ro_user') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'app_user', :'app_password') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'ro_user', :'ro_password') \gexec
-- The dashboards' role can never write, even by mistake.
SELECT format('ALTER ROLE %I SET default_transaction_read_only = on', :'ro_user') \gexec

SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'app_user')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
-- MLflow's tracking server keeps its own database beside the application's (docker compose).
SELECT format('CREATE DATABASE %I OWNER %I', 'mlflow', :'app_user')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mlflow') \gexec

\connect :db
SELECT format('ALTER SCHEMA public OWNER TO %I', :'app_user') \gexec
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', :'db', :'ro_user') \gexec
SELECT format('GRANT USAGE ON SCHEMA public TO %I', :'ro_user') \gexec
SELECT format('GRANT SELECT ON ALL TABLES IN SCHEMA public TO %I', :'ro_user') \gexec
-- Tables the application creates later (every load creates its table anew) stay readable.
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT SELECT ON TABLES TO %I',
              :'app_user', :'ro_user') \gexec
