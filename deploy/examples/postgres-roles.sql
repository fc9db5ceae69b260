-- PostgreSQL roles of kiln's cloud side, least privilege (docs/PRODUCTION.md).
-- Run as a superuser once; set the passwords with \password afterwards.
-- None of the roles is a superuser or BYPASSRLS: row-level security keeps
-- the tenants apart, and the store refuses a role above it.
CREATE DATABASE kiln;
\connect kiln

-- Owns the schema: migrations, partitions, retention (owner_dsn).
CREATE ROLE kiln_owner LOGIN NOSUPERUSER NOBYPASSRLS;
-- The ingestor: SELECT and INSERT on the samples, granted by kiln_owner
-- when it migrates; nothing else.
CREATE ROLE kiln_ingestor LOGIN NOSUPERUSER NOBYPASSRLS;
-- The platform (console and API in the cloud): its own role.
CREATE ROLE kiln_platform LOGIN NOSUPERUSER NOBYPASSRLS;

REVOKE ALL ON DATABASE kiln FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE kiln TO kiln_owner, kiln_ingestor, kiln_platform;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO kiln_owner;
GRANT USAGE ON SCHEMA public TO kiln_ingestor, kiln_platform;
