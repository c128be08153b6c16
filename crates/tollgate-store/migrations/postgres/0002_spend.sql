-- Spend tracking: one compact row per request, daily aggregates for every entity kind, and
-- running counters for spend that has no entity table (tags, the whole gateway).

-- One row per request, success or failure. No copy of the price map: `metadata` holds only a
-- few small facts (error text, status code).
CREATE TABLE spend_logs (
    request_id                  TEXT PRIMARY KEY,
    call_type                   TEXT NOT NULL,
    api_key                     TEXT NOT NULL DEFAULT '',
    key_id                      TEXT,
    key_alias                   TEXT,
    user_id                     TEXT,
    team_id                     TEXT,
    organization_id             TEXT,
    end_user                    TEXT,
    tags                        TEXT NOT NULL DEFAULT '[]',
    model                       TEXT NOT NULL DEFAULT '',
    model_id                    TEXT,
    model_group                 TEXT NOT NULL DEFAULT '',
    provider                    TEXT NOT NULL DEFAULT '',
    api_base                    TEXT,
    endpoint                    TEXT NOT NULL DEFAULT '',
    status                      TEXT NOT NULL,
    spend                       DOUBLE PRECISION NOT NULL DEFAULT 0,
    prompt_tokens               BIGINT NOT NULL DEFAULT 0,
    completion_tokens           BIGINT NOT NULL DEFAULT 0,
    cache_read_input_tokens     BIGINT NOT NULL DEFAULT 0,
    cache_creation_input_tokens BIGINT NOT NULL DEFAULT 0,
    start_time                  BIGINT NOT NULL,
    end_time                    BIGINT NOT NULL,
    completion_start_time       BIGINT,
    request_duration_ms         BIGINT NOT NULL DEFAULT 0,
    metadata                    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX spend_logs_time_idx ON spend_logs (start_time);
-- Each filter column leads, with the time after it, so that "newest first" needs no sort.
CREATE INDEX spend_logs_api_key_idx ON spend_logs (api_key, start_time);
CREATE INDEX spend_logs_user_idx ON spend_logs (user_id, start_time);
CREATE INDEX spend_logs_team_idx ON spend_logs (team_id, start_time);
CREATE INDEX spend_logs_end_user_idx ON spend_logs (end_user, start_time);

-- Daily aggregates for users, teams, organizations, customers and tags alike. Key columns hold
-- '' instead of NULL, so that the upsert's conflict target always matches.
CREATE TABLE daily_spend (
    entity_type                 TEXT NOT NULL,
    entity_id                   TEXT NOT NULL,
    date                        TEXT NOT NULL,
    api_key                     TEXT NOT NULL DEFAULT '',
    model                       TEXT NOT NULL DEFAULT '',
    model_group                 TEXT NOT NULL DEFAULT '',
    provider                    TEXT NOT NULL DEFAULT '',
    endpoint                    TEXT NOT NULL DEFAULT '',
    spend                       DOUBLE PRECISION NOT NULL DEFAULT 0,
    prompt_tokens               BIGINT NOT NULL DEFAULT 0,
    completion_tokens           BIGINT NOT NULL DEFAULT 0,
    cache_read_input_tokens     BIGINT NOT NULL DEFAULT 0,
    cache_creation_input_tokens BIGINT NOT NULL DEFAULT 0,
    api_requests                BIGINT NOT NULL DEFAULT 0,
    successful_requests         BIGINT NOT NULL DEFAULT 0,
    failed_requests             BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (entity_type, entity_id, date, api_key, model, model_group, provider, endpoint)
);
CREATE INDEX daily_spend_type_date_idx ON daily_spend (entity_type, date);

-- Spend of things without an entity table: scope 'tag' (id = the tag) and scope 'global'
-- (id 'global', the whole gateway).
CREATE TABLE spend_counters (
    scope TEXT NOT NULL,
    id    TEXT NOT NULL,
    spend DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, id)
);
