//! Data sources: one per resource, found by its id or alias, and the list forms
//! `tollgate_keys`, `tollgate_teams`, `tollgate_users` and `tollgate_models`.

mod list;
mod single;

use std::sync::Arc;

use crate::plugin::DataRead;
use crate::provider::Connection;
use crate::spec::{Attr, Mode};

pub use single::Lookup;

/// A data source's attributes: the resource's readable attributes, the `args` optional
/// (arguments), everything else computed. Built once per provider process.
pub fn data_attrs(attrs: &[Attr], args: &[&str]) -> &'static [Attr] {
    let out: Vec<Attr> = attrs
        .iter()
        .filter(|a| !a.local && !a.kept)
        .map(|a| {
            let mut a = *a;
            a.mode = if args.contains(&a.name) {
                Mode::Optional
            } else {
                Mode::Computed
            };
            a.kept = false;
            a.force_new = false;
            a
        })
        .collect();
    Box::leak(out.into_boxed_slice())
}

pub fn all(conn: &Arc<Connection>) -> Vec<(&'static str, Arc<dyn DataRead>)> {
    let mut out: Vec<(&'static str, Arc<dyn DataRead>)> = Lookup::ALL
        .iter()
        .map(|l| (l.name(), single::source(*l, conn.clone())))
        .collect();
    out.extend(list::all(conn));
    out
}
