-- Closed days of the daily aggregates, one value per (entity type, day), made by reports and
-- served while their version is the day's (see src/sql/daily_pack.rs). A day's version counts
-- the writes made to it after it closed; a day that has none is at version 0.
CREATE TABLE daily_versions (
    date    TEXT PRIMARY KEY,
    version INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE daily_packs (
    entity_type TEXT NOT NULL,
    date        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    body        BLOB NOT NULL,
    PRIMARY KEY (entity_type, date)
);
