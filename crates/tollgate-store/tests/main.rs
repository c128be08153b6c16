//! The store's conformance suite: every test below runs, unchanged, against SQLite and against
//! PostgreSQL. `conformance!` instantiates the whole list once per backend, so the two can never
//! drift apart. PostgreSQL tests are skipped when no server answers, unless `CI=true`.
//!
//! The tests live in `conformance/`, one module per area. Tests that only make sense on one
//! backend (WAL mode, racing database creation, an unreachable server) live in
//! `conformance/backend_specific.rs`.

// `cfg(test)` is always on here; it marks these modules as test code for clippy, which then
// allows them unwrap and panic (clippy.toml).
#[cfg(test)]
mod conformance {
    pub mod common;

    pub mod analytics;
    pub mod audit;
    pub mod backend_specific;
    pub mod batch;
    pub mod lifecycle;
    pub mod logs;
    pub mod metadata;
    pub mod perf;
    pub mod query;
    pub mod records;
    pub mod resets;
    pub mod spend;
    pub mod tokens;
    pub mod writes;
}

#[cfg(test)]
use conformance::{
    analytics, audit, batch, common, lifecycle, logs, metadata, perf, query, records, resets,
    spend, tokens, writes,
};

/// `conformance!(backend)` makes `mod backend` with one `#[tokio::test]` per listed test, each
/// opening a fresh store with `common::Ctx::backend()` and calling `area::test(&ctx)`.
macro_rules! conformance {
    ($backend:ident) => {
        conformance!(@suite $backend;
            records {
                key_round_trip,
                team_round_trip,
                team_member_round_trip,
                user_round_trip,
                org_round_trip,
                org_member_round_trip,
                customer_round_trip,
                budget_round_trip,
            }
            writes {
                update_never_touches_spend,
                set_spend_sets_spend,
                missing_rows_are_not_found,
                duplicate_primary_keys_conflict,
                duplicate_key_alias_conflicts,
                duplicate_key_token_conflicts,
                keys_without_alias_coexist,
                delete_where_deletes_matching_rows,
                wrong_primary_key_arity_is_an_error,
            }
            batch {
                batch_applies_every_write,
                failed_batch_leaves_nothing,
                failed_batch_leaves_store_usable,
            }
            query {
                eq_filter,
                in_filter,
                empty_in_matches_nothing,
                is_null_filter,
                contains_is_case_insensitive,
                contains_treats_wildcards_literally,
                lt_and_ge_filters,
                any_of_is_an_or_group,
                sort_by_created_at,
                sort_by_spend,
                pagination_and_total,
                pagination_is_stable_on_ties,
                unknown_columns_are_errors,
                filter_values_may_change_type,
            }
            tokens {
                issued_token_is_active,
                regenerated_token_is_archived,
                deleted_token_is_archived,
                retiring_an_inactive_token_is_not_found,
                failed_regeneration_rolls_back,
                issuing_twice_conflicts,
                key_tokens_newest_first,
            }
            metadata {
                live_key_shows_current_values,
                deleted_key_shows_snapshot,
                unknown_hashes_are_absent,
                many_hashes_at_once,
            }
            audit {
                entries_round_trip_newest_first,
                filters_by_fields,
                filters_by_time,
                pagination_and_total,
            }
            spend {
                replay_is_idempotent,
                increments_land_exactly,
                missing_entities_do_not_fail_the_batch,
                customers_are_created_on_first_spend,
                concurrent_writers_get_exact_totals,
            }
            analytics {
                daily_rows_per_entity_kind,
                daily_filters_take_any_text,
                empty_key_columns_are_normalised,
                bulk_daily_rows_add_up,
                days_come_one_at_a_time_and_a_stalled_read_holds_up_none,
                closed_days_come_from_packs_until_written_late,
            }
            logs {
                spend_log_filters,
                every_spend_log_column_reads_back,
                totals_by_group,
                retention_deletes_old_logs_in_batches,
            }
            resets {
                due_rows_of_every_kind,
                reset_is_compare_and_set,
            }
            lifecycle {
                ping_works,
                migrations_are_idempotent,
                exhausted_pool_is_unavailable,
            }
        );
    };
    (@suite $backend:ident; $($area:ident { $($test:ident),* $(,)? })*) => {
        mod $backend {
            $(
                mod $area {
                    $(
                        #[tokio::test]
                        async fn $test() {
                            let Some(ctx) = crate::common::Ctx::$backend().await else {
                                return;
                            };
                            crate::$area::$test(&ctx).await;
                        }
                    )*
                }
            )*
        }
    };
}

conformance!(sqlite);
conformance!(postgres);

/// `timings!(module, backend: tests)`: the timings of `conformance/perf.rs` on one backend,
/// ignored unless asked for (`--run-ignored only`).
macro_rules! timings {
    ($module:ident, $backend:ident: $($test:ident),* $(,)?) => {
        mod $module {
            $(
                #[tokio::test]
                #[ignore = "timings, run by hand"]
                async fn $test() {
                    let Some(ctx) = crate::common::Ctx::$backend().await else {
                        return;
                    };
                    crate::perf::$test(&ctx).await;
                }
            )*
        }
    };
}

timings!(sqlite_perf, sqlite: daily_query_on_300k_rows, record_10k_events);
timings!(postgres_perf, postgres: daily_query_on_300k_rows, record_10k_events);
