-- One database per service: each owns its tables and migrations (run by the service at start).
CREATE DATABASE stations;
CREATE DATABASE volunteers;
CREATE DATABASE wishes;
CREATE DATABASE points;
CREATE DATABASE notify;
