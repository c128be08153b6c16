//! Unit and property tests of the pricing module, against the embedded LiteLLM price map.

mod cost;
mod counts;
mod props;
mod table;
mod tokens;
mod usage;

use std::sync::OnceLock;

use super::PriceTable;

/// The embedded table, parsed once for all tests.
fn table() -> &'static PriceTable {
    static TABLE: OnceLock<PriceTable> = OnceLock::new();
    TABLE.get_or_init(|| PriceTable::embedded().expect("the embedded price table parses"))
}

/// Asserts two costs agree within 1e-12 USD.
#[track_caller]
fn assert_close(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() < 1e-12,
        "expected {expected:e}, got {actual:e}"
    );
}
