-- Run once by the postgres image on an empty data volume: the request store's database
-- beside the tracker store's (POSTGRES_DB=rasa). The action servers create its tables.
CREATE DATABASE requests OWNER assistant;
