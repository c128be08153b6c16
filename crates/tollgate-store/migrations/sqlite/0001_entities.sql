-- Entities of the management API. Each table keeps the record as a JSON document in `data`,
-- its projected columns (what queries filter and sort on), and its `spend` counter.

CREATE TABLE budgets (
    budget_id       TEXT PRIMARY KEY,
    budget_duration TEXT,
    budget_reset_at INTEGER,
    created_at      INTEGER NOT NULL,
    spend           REAL NOT NULL DEFAULT 0,
    data            TEXT NOT NULL
);
CREATE INDEX budgets_reset_idx ON budgets (budget_reset_at);

CREATE TABLE organizations (
    organization_id    TEXT PRIMARY KEY,
    organization_alias TEXT NOT NULL,
    budget_id          TEXT NOT NULL,
    budget_reset_at    INTEGER,
    created_at         INTEGER NOT NULL,
    spend              REAL NOT NULL DEFAULT 0,
    data               TEXT NOT NULL
);

CREATE TABLE organization_members (
    organization_id TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    spend           REAL NOT NULL DEFAULT 0,
    data            TEXT NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX organization_members_user_idx ON organization_members (user_id);

CREATE TABLE teams (
    team_id         TEXT PRIMARY KEY,
    team_alias      TEXT,
    organization_id TEXT,
    budget_duration TEXT,
    budget_reset_at INTEGER,
    created_at      INTEGER NOT NULL,
    spend           REAL NOT NULL DEFAULT 0,
    data            TEXT NOT NULL
);
CREATE INDEX teams_org_idx ON teams (organization_id);
CREATE INDEX teams_reset_idx ON teams (budget_reset_at);

CREATE TABLE team_members (
    team_id         TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    budget_duration TEXT,
    budget_reset_at INTEGER,
    created_at      INTEGER NOT NULL,
    spend           REAL NOT NULL DEFAULT 0,
    data            TEXT NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user_idx ON team_members (user_id);

CREATE TABLE users (
    user_id         TEXT PRIMARY KEY,
    user_email      TEXT,
    user_role       TEXT NOT NULL,
    budget_duration TEXT,
    budget_reset_at INTEGER,
    created_at      INTEGER NOT NULL,
    spend           REAL NOT NULL DEFAULT 0,
    data            TEXT NOT NULL
);
CREATE INDEX users_email_idx ON users (user_email);
CREATE INDEX users_reset_idx ON users (budget_reset_at);

CREATE TABLE customers (
    user_id         TEXT PRIMARY KEY,
    budget_id       TEXT,
    budget_reset_at INTEGER,
    created_at      INTEGER NOT NULL,
    spend           REAL NOT NULL DEFAULT 0,
    data            TEXT NOT NULL
);

CREATE TABLE keys (
    key_id          TEXT PRIMARY KEY,
    token           TEXT NOT NULL UNIQUE,
    key_alias       TEXT UNIQUE,
    user_id         TEXT,
    team_id         TEXT,
    organization_id TEXT,
    budget_duration TEXT,
    budget_reset_at INTEGER,
    expires         INTEGER,
    created_at      INTEGER NOT NULL,
    spend           REAL NOT NULL DEFAULT 0,
    data            TEXT NOT NULL
);
CREATE INDEX keys_user_idx ON keys (user_id);
CREATE INDEX keys_team_idx ON keys (team_id);
CREATE INDEX keys_org_idx ON keys (organization_id);
CREATE INDEX keys_reset_idx ON keys (budget_reset_at);

-- Every token hash ever issued, forever: what it belongs to and what became of it.
CREATE TABLE key_tokens (
    token       TEXT PRIMARY KEY,
    key_id      TEXT NOT NULL,
    status      TEXT NOT NULL,
    issued_at   INTEGER NOT NULL,
    retired_at  INTEGER,
    retired_by  TEXT,
    grace_until INTEGER,
    snapshot    TEXT
);
CREATE INDEX key_tokens_key_idx ON key_tokens (key_id);

CREATE TABLE audit_log (
    id                 TEXT PRIMARY KEY,
    updated_at         INTEGER NOT NULL,
    changed_by         TEXT,
    changed_by_api_key TEXT,
    action             TEXT NOT NULL,
    table_name         TEXT NOT NULL,
    object_id          TEXT NOT NULL,
    before_value       TEXT,
    updated_values     TEXT
);
CREATE INDEX audit_log_object_idx ON audit_log (table_name, object_id, updated_at);
CREATE INDEX audit_log_time_idx ON audit_log (updated_at);
