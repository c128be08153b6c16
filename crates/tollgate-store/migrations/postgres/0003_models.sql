-- Model deployments managed through /model/new, /model/update and /model/delete.
CREATE TABLE models (
    model_id   TEXT PRIMARY KEY,
    model_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    spend      DOUBLE PRECISION NOT NULL DEFAULT 0,
    data       TEXT NOT NULL
);
CREATE INDEX models_name_idx ON models (model_name);
