//! The permission matrix: each role against each management route, at the route gate.
//! Handlers may still refuse an allowed caller for a particular object; this checks the gate.

use serde_json::{json, Value};
use tollgate_testkit::TestDb;

use crate::both;
use crate::common::{Gateway, MASTER};

const ROLES: [&str; 5] = [
    "proxy_admin",
    "proxy_admin_viewer",
    "org_admin",
    "internal_user",
    "internal_user_viewer",
];

const Y: bool = true;
const N: bool = false;

/// (method, path, allowed for each of ROLES in order)
const MATRIX: &[(&str, &str, [bool; 5])] = &[
    ("POST", "/key/generate", [Y, N, Y, Y, N]),
    ("POST", "/key/update", [Y, N, Y, Y, N]),
    ("POST", "/key/delete", [Y, N, Y, Y, N]),
    ("GET", "/key/info", [Y, Y, Y, Y, Y]),
    ("GET", "/key/list", [Y, Y, Y, Y, Y]),
    ("POST", "/key/regenerate", [Y, N, Y, Y, N]),
    ("POST", "/key/block", [Y, N, Y, Y, N]),
    ("POST", "/key/unblock", [Y, N, Y, Y, N]),
    ("POST", "/team/new", [Y, N, Y, N, N]),
    ("POST", "/team/update", [Y, N, Y, Y, N]),
    ("POST", "/team/delete", [Y, N, Y, N, N]),
    ("GET", "/team/info", [Y, Y, Y, Y, Y]),
    ("GET", "/team/list", [Y, Y, Y, Y, Y]),
    ("POST", "/team/member_add", [Y, N, Y, Y, N]),
    ("POST", "/team/member_delete", [Y, N, Y, Y, N]),
    ("POST", "/team/member_update", [Y, N, Y, Y, N]),
    ("POST", "/team/block", [Y, N, Y, Y, N]),
    ("POST", "/team/unblock", [Y, N, Y, Y, N]),
    ("POST", "/user/new", [Y, N, Y, N, N]),
    ("POST", "/user/update", [Y, N, N, N, N]),
    ("POST", "/user/delete", [Y, N, N, N, N]),
    ("GET", "/user/info", [Y, Y, Y, Y, Y]),
    ("GET", "/user/list", [Y, Y, Y, N, N]),
    ("POST", "/organization/new", [Y, N, N, N, N]),
    ("PATCH", "/organization/update", [Y, N, N, N, N]),
    ("DELETE", "/organization/delete", [Y, N, N, N, N]),
    ("GET", "/organization/info", [Y, Y, Y, N, N]),
    ("GET", "/organization/list", [Y, Y, Y, N, N]),
    ("POST", "/organization/member_add", [Y, N, Y, N, N]),
    ("PATCH", "/organization/member_update", [Y, N, Y, N, N]),
    ("DELETE", "/organization/member_delete", [Y, N, Y, N, N]),
    ("POST", "/customer/new", [Y, N, N, N, N]),
    ("GET", "/customer/info", [Y, Y, N, N, N]),
    ("POST", "/customer/update", [Y, N, N, N, N]),
    ("POST", "/customer/delete", [Y, N, N, N, N]),
    ("GET", "/customer/list", [Y, Y, N, N, N]),
    ("POST", "/customer/block", [Y, N, N, N, N]),
    ("POST", "/customer/unblock", [Y, N, N, N, N]),
    ("POST", "/end_user/new", [Y, N, N, N, N]),
    ("GET", "/end_user/list", [Y, Y, N, N, N]),
    ("POST", "/budget/new", [Y, N, N, N, N]),
    ("POST", "/budget/update", [Y, N, N, N, N]),
    ("POST", "/budget/info", [Y, Y, N, N, N]),
    ("GET", "/budget/list", [Y, Y, N, N, N]),
    ("POST", "/budget/delete", [Y, N, N, N, N]),
    ("GET", "/audit", [Y, Y, N, N, N]),
];

/// Whether a response is the route gate's refusal.
fn gate_refused(status: u16, body: &Value) -> bool {
    let msg = body["error"]["message"].as_str().unwrap_or_default();
    (status == 401 && msg.contains("Only proxy admin"))
        || (status == 403 && msg.contains("role=proxy_admin_viewer"))
}

async fn permission_matrix(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let mut keys = Vec::new();
    for role in ROLES {
        keys.push(gw.user(&format!("user-{role}"), role).await);
    }
    let mut wrong = Vec::new();
    for (method, path, allowed) in MATRIX {
        for (i, role) in ROLES.iter().enumerate() {
            let body = (*method != "GET").then(|| json!({}));
            let (status, v) = gw.call(method, path, Some(&keys[i]), body).await;
            assert_ne!(status.as_u16(), 500, "{method} {path} as {role}: {v}");
            assert_ne!(status.as_u16(), 405, "{method} {path} is not routed");
            let msg = v["error"]["message"].as_str().unwrap_or_default();
            assert!(
                !msg.contains("Route not found"),
                "{method} {path} is not routed"
            );
            if gate_refused(status.as_u16(), &v) == allowed[i] {
                wrong.push(format!(
                    "{method} {path} as {role}: expected allowed={}, got {status} {v}",
                    allowed[i]
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "permission matrix mismatches:\n{}",
        wrong.join("\n")
    );
    gw.stop().await;
}

async fn master_key_and_missing_keys(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let (s, v) = gw.call("GET", "/key/list", None, None).await;
    assert_eq!(s, 401);
    assert_eq!(
        v["error"]["message"],
        "Authentication Error, No api key passed in."
    );
    let (s, v) = gw
        .call("GET", "/key/list", Some("not-a-virtual-key"), None)
        .await;
    assert_eq!(s, 401);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expected to start with 'sk-'"));
    let (s, v) = gw
        .call("GET", "/key/list", Some("sk-unknown-key-123456"), None)
        .await;
    assert_eq!(s, 401);
    assert_eq!(v["error"]["type"], "token_not_found_in_db");
    assert_eq!(gw.get_as(MASTER, "/key/list").await.0, 200);
    // Public routes need no key.
    assert_eq!(
        gw.call("GET", "/health/liveliness", None, None).await.0,
        200
    );
    let (s, v) = gw.call("GET", "/health/readiness", None, None).await;
    assert_eq!(s, 200);
    assert_eq!(v["db"], "connected");
    // Other headers carry keys too.
    let resp = reqwest::Client::new()
        .get(format!("{}/key/list", gw.url))
        .header("x-api-key", MASTER)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    gw.stop().await;
}

async fn a_key_limited_to_routes(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let raw = gw.key(json!({"allowed_routes": ["/key/info"]})).await;
    assert_eq!(gw.get_as(&raw, "/key/info").await.0, 200);
    let (s, v) = gw.get_as(&raw, "/key/list").await;
    assert_eq!(s, 403, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not allowed to call this route"));
    gw.stop().await;
}

both!(
    permission_matrix,
    master_key_and_missing_keys,
    a_key_limited_to_routes
);

#[tokio::test]
async fn without_a_master_key_everyone_is_admin() {
    let db = TestDb::sqlite();
    let gw = Gateway::start_with(&db, &[]).await;
    let (s, v) = gw
        .call("POST", "/team/new", None, Some(json!({"team_id": "open"})))
        .await;
    assert_eq!(s, 200, "{v}");
    gw.stop().await;
}
