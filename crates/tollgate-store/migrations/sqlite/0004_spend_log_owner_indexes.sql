-- The optional owners of a spend log (user, team, customer) are indexed only where there is
-- one: most calls have no team or customer, and indexing the NULLs cost an index write per call
-- for no query (filters are `column = value`, which these partial indexes serve).
DROP INDEX spend_logs_user_idx;
DROP INDEX spend_logs_team_idx;
DROP INDEX spend_logs_end_user_idx;
CREATE INDEX spend_logs_user_idx ON spend_logs (user_id, start_time) WHERE user_id IS NOT NULL;
CREATE INDEX spend_logs_team_idx ON spend_logs (team_id, start_time) WHERE team_id IS NOT NULL;
CREATE INDEX spend_logs_end_user_idx ON spend_logs (end_user, start_time) WHERE end_user IS NOT NULL;
