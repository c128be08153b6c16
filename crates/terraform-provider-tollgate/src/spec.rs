//! Attribute specifications shared by resources and data sources, the conversion between
//! Terraform values and the gateway's JSON, and the comparison that keeps values the gateway
//! normalises (null versus `[]`, `10` versus `10.0`) from showing up as changes.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use crate::plugin::Val;

/// An attribute's type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ty {
    Str,
    /// A whole number (sent as a JSON integer).
    Int,
    Float,
    Bool,
    StrList,
    StrMap,
    /// A nested block with exactly one instance.
    Block(&'static [Attr]),
    /// A list of objects (data sources' results).
    Objects(&'static [Attr]),
}

/// How the attribute is set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Required,
    Optional,
    /// Optional; when not set, the gateway's value is taken and kept.
    OptionalComputed,
    Computed,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attr {
    pub name: &'static str,
    pub ty: Ty,
    pub mode: Mode,
    pub sensitive: bool,
    /// A change replaces the object.
    pub force_new: bool,
    /// The gateway never returns it: the state keeps what was planned.
    pub kept: bool,
    /// Never sent to the gateway (it steers the provider only).
    pub local: bool,
    pub doc: &'static str,
}

impl Attr {
    const fn new(name: &'static str, ty: Ty, mode: Mode, doc: &'static str) -> Attr {
        Attr {
            name,
            ty,
            mode,
            sensitive: false,
            force_new: false,
            kept: false,
            local: false,
            doc,
        }
    }
    pub const fn opt(name: &'static str, ty: Ty, doc: &'static str) -> Attr {
        Attr::new(name, ty, Mode::Optional, doc)
    }
    pub const fn req(name: &'static str, ty: Ty, doc: &'static str) -> Attr {
        Attr::new(name, ty, Mode::Required, doc)
    }
    pub const fn opt_computed(name: &'static str, ty: Ty, doc: &'static str) -> Attr {
        Attr::new(name, ty, Mode::OptionalComputed, doc)
    }
    pub const fn computed(name: &'static str, ty: Ty, doc: &'static str) -> Attr {
        Attr::new(name, ty, Mode::Computed, doc)
    }
    pub const fn sensitive(mut self) -> Attr {
        self.sensitive = true;
        self
    }
    pub const fn force_new(mut self) -> Attr {
        self.force_new = true;
        self
    }
    pub const fn kept(mut self) -> Attr {
        self.kept = true;
        self
    }
    pub const fn local(mut self) -> Attr {
        self.local = true;
        self
    }
    /// Whether the user can set it and it goes to the gateway.
    pub fn sent(&self) -> bool {
        self.mode != Mode::Computed && !self.local
    }
}

/// The JSON the gateway takes for a known value.
pub fn to_json(ty: Ty, v: &Val) -> Json {
    match (ty, v) {
        (_, Val::Null | Val::Unknown) => Json::Null,
        (Ty::Int, Val::Num(n)) => {
            #[expect(clippy::cast_possible_truncation, reason = "limits are whole numbers")]
            let i = n.round() as i64;
            Json::from(i)
        }
        (Ty::Block(attrs), Val::Map(m)) => {
            let mut out = Map::new();
            for a in attrs.iter().filter(|a| a.sent()) {
                if let Some(v) = m.get(a.name).filter(|v| !v.is_null() && !v.is_unknown()) {
                    out.insert(a.name.to_owned(), to_json(a.ty, v));
                }
            }
            Json::Object(out)
        }
        (_, v) => plain_json(v),
    }
}

fn plain_json(v: &Val) -> Json {
    match v {
        Val::Null | Val::Unknown => Json::Null,
        Val::Bool(b) => Json::Bool(*b),
        Val::Num(n) => serde_json::Number::from_f64(*n).map_or(Json::Null, Json::Number),
        Val::Str(s) => Json::String(s.clone()),
        Val::List(items) => Json::Array(items.iter().map(plain_json).collect()),
        Val::Map(m) => Json::Object(m.iter().map(|(k, v)| (k.clone(), plain_json(v))).collect()),
    }
}

/// A string for JSON that Terraform holds as a string (map values set outside Terraform may
/// be numbers or objects).
fn as_text(j: &Json) -> Val {
    match j {
        Json::Null => Val::Null,
        Json::String(s) => Val::Str(s.clone()),
        other => Val::Str(other.to_string()),
    }
}

/// The Terraform value of a gateway JSON value.
pub fn from_json(ty: Ty, j: &Json) -> Val {
    match (ty, j) {
        (_, Json::Null) => Val::Null,
        (Ty::Str, j) => as_text(j),
        (Ty::Int | Ty::Float, Json::Number(n)) => n.as_f64().map_or(Val::Null, Val::Num),
        (Ty::Int | Ty::Float, Json::String(s)) => s.parse().map_or(Val::Null, Val::Num),
        (Ty::Bool, Json::Bool(b)) => Val::Bool(*b),
        (Ty::StrList, Json::Array(items)) => Val::List(items.iter().map(as_text).collect()),
        (Ty::StrMap, Json::Object(m)) => Val::Map(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), as_text(v)))
                .collect(),
        ),
        (Ty::Objects(attrs), Json::Array(items)) => Val::List(
            items
                .iter()
                .map(|i| from_json(Ty::Block(attrs), i))
                .collect(),
        ),
        (Ty::Block(attrs), Json::Object(m)) => Val::Map(
            attrs
                .iter()
                .map(|a| {
                    let v = m.get(a.name).map_or(Val::Null, |v| from_json(a.ty, v));
                    (a.name.to_owned(), v)
                })
                .collect(),
        ),
        _ => Val::Null,
    }
}

fn is_empty(v: &Val) -> bool {
    match v {
        Val::Null | Val::Bool(false) => true,
        Val::Str(s) => s.is_empty(),
        Val::List(l) => l.is_empty(),
        Val::Map(m) => m.is_empty(),
        _ => false,
    }
}

/// Whether two values mean the same to the gateway.
pub fn equivalent(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Num(x), Val::Num(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        (Val::List(x), Val::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equivalent(a, b))
        }
        (Val::Map(x), Val::Map(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().all(|k| {
                equivalent(
                    x.get(k).unwrap_or(&Val::Null),
                    y.get(k).unwrap_or(&Val::Null),
                )
            })
        }
        (a, b) if is_empty(a) && is_empty(b) => true,
        (a, b) => a == b,
    }
}

/// The value to keep in state: the prior one when the gateway's means the same.
pub fn reconcile(attr: &Attr, prior: &Val, api: Val) -> Val {
    if attr.kept {
        return prior.clone();
    }
    if let Ty::Block(attrs) = attr.ty {
        let mut out = BTreeMap::new();
        for a in attrs {
            let api_v = api.get(a.name).clone();
            out.insert(a.name.to_owned(), reconcile(a, prior.get(a.name), api_v));
        }
        return Val::Map(out);
    }
    if equivalent(prior, &api) {
        prior.clone()
    } else {
        api
    }
}

/// The state after a read: every attribute, from the gateway where it says something.
pub fn refresh(attrs: &[Attr], prior: &Val, view: &Json) -> Val {
    let mut out = BTreeMap::new();
    for a in attrs {
        let v = match view.get(a.name) {
            // An explicit value for a kept attribute (e.g. a key rotated elsewhere) wins.
            Some(j) if a.kept => from_json(a.ty, j),
            _ if a.kept => prior.get(a.name).clone(),
            Some(j) => reconcile(a, prior.get(a.name), from_json(a.ty, j)),
            None => reconcile(a, prior.get(a.name), Val::Null),
        };
        out.insert(a.name.to_owned(), v);
    }
    Val::Map(out)
}

/// The state after an apply: every planned value stays; unknown ones come from the gateway.
pub fn settle(attrs: &[Attr], planned: &Val, view: &Json) -> Val {
    let mut out = BTreeMap::new();
    for a in attrs {
        let p = planned.get(a.name);
        let api = || view.get(a.name).map_or(Val::Null, |j| from_json(a.ty, j));
        let v = match (a.ty, p) {
            (_, Val::Unknown) => api(),
            (Ty::Block(inner), Val::Map(_)) => {
                settle(inner, p, view.get(a.name).unwrap_or(&Json::Null))
            }
            _ => p.clone(),
        };
        out.insert(a.name.to_owned(), v);
    }
    Val::Map(out)
}

/// The request fields for a new object: every known, non-null value the user set.
pub fn body(attrs: &[Attr], planned: &Val) -> Map<String, Json> {
    let mut out = Map::new();
    for a in attrs.iter().filter(|a| a.sent()) {
        let v = planned.get(a.name);
        if !v.is_null() && !v.is_unknown() {
            out.insert(a.name.to_owned(), to_json(a.ty, v));
        }
    }
    out
}

/// The request fields for an update: what changed (removed values as `null`).
pub fn changes(attrs: &[Attr], prior: &Val, planned: &Val) -> Map<String, Json> {
    let mut out = Map::new();
    for a in attrs.iter().filter(|a| a.sent()) {
        let (old, new) = (prior.get(a.name), planned.get(a.name));
        if new.is_unknown() || old == new {
            continue;
        }
        out.insert(a.name.to_owned(), to_json(a.ty, new));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LIST: Attr = Attr::opt("models", Ty::StrList, "");
    const NUM: Attr = Attr::opt("max_budget", Ty::Float, "");
    const FLAG: Attr = Attr::opt("blocked", Ty::Bool, "");

    #[test]
    fn normalised_values_keep_the_prior_form() {
        assert_eq!(
            reconcile(&LIST, &Val::Null, from_json(Ty::StrList, &json!([]))),
            Val::Null
        );
        assert_eq!(
            reconcile(&LIST, &Val::List(vec![]), Val::Null),
            Val::List(vec![])
        );
        assert_eq!(
            reconcile(&NUM, &Val::Num(10.0), from_json(Ty::Float, &json!(10))),
            Val::Num(10.0)
        );
        assert_eq!(reconcile(&FLAG, &Val::Null, Val::Bool(false)), Val::Null);
        assert_eq!(
            reconcile(&NUM, &Val::Num(10.0), Val::Num(11.0)),
            Val::Num(11.0)
        );
    }

    #[test]
    fn integers_go_out_as_integers() {
        assert_eq!(to_json(Ty::Int, &Val::Num(100.0)), json!(100));
        assert_eq!(to_json(Ty::Float, &Val::Num(12.5)), json!(12.5));
    }

    #[test]
    fn unset_values_are_not_sent() {
        let attrs = [LIST, NUM, Attr::computed("spend", Ty::Float, "")];
        let planned = from_json(Ty::Block(&[]), &json!({}));
        assert!(body(&attrs, &planned).is_empty());
        let mut m = BTreeMap::new();
        m.insert("max_budget".to_owned(), Val::Num(5.0));
        m.insert("spend".to_owned(), Val::Unknown);
        let b = body(&attrs, &Val::Map(m));
        assert_eq!(Json::Object(b), json!({"max_budget": 5.0}));
    }
}
