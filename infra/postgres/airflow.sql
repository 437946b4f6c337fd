-- Idempotent: Airflow's metadata database `airflow`, owned by a role of its own, so that neither
-- application role can read Airflow's connections and variables. Run by `./cli.sh setup-db ENV`
-- (the local cluster or the compose service) and by the compose postgres service's init script,
-- after bootstrap.sql. Variables (psql \set): airflow_user, airflow_password
\set ON_ERROR_STOP on

SELECT format('CREATE ROLE %I LOGIN', :'airflow_user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'airflow_user') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'airflow_user', :'airflow_password') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', 'airflow', :'airflow_user')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'airflow') \gexec
-- Databases are open to PUBLIC by default; keep this one to its owner.
REVOKE ALL ON DATABASE airflow FROM PUBLIC;
