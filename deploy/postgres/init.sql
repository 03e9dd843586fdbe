-- One database per service, each owned by the service's own role; no role may connect to
-- another service's database. The passwords come from the environment of the postgres
-- container (docker-compose.yml requires them), read by psql's \getenv: none is written here.
-- An unset variable leaves its :'...' unexpanded, a syntax error that stops the init.
\set ON_ERROR_STOP on
\getenv stations_password STATIONS_DB_PASSWORD
\getenv volunteers_password VOLUNTEERS_DB_PASSWORD
\getenv wishes_password WISHES_DB_PASSWORD
\getenv points_password POINTS_DB_PASSWORD
\getenv notify_password NOTIFY_DB_PASSWORD

CREATE ROLE stations LOGIN PASSWORD :'stations_password';
CREATE DATABASE stations OWNER stations;
REVOKE ALL ON DATABASE stations FROM PUBLIC;

CREATE ROLE volunteers LOGIN PASSWORD :'volunteers_password';
CREATE DATABASE volunteers OWNER volunteers;
REVOKE ALL ON DATABASE volunteers FROM PUBLIC;

CREATE ROLE wishes LOGIN PASSWORD :'wishes_password';
CREATE DATABASE wishes OWNER wishes;
REVOKE ALL ON DATABASE wishes FROM PUBLIC;

CREATE ROLE points LOGIN PASSWORD :'points_password';
CREATE DATABASE points OWNER points;
REVOKE ALL ON DATABASE points FROM PUBLIC;

CREATE ROLE notify LOGIN PASSWORD :'notify_password';
CREATE DATABASE notify OWNER notify;
REVOKE ALL ON DATABASE notify FROM PUBLIC;
