//! The gateway's one Redis connection, shared by every request without a task of its own:
//! concurrent requests each get their own reply, replies no one waits for are dropped without
//! disturbing the others, and a connection Redis closes or that stops answering is replaced.
//! Skipped without a reachable Redis, except under `CI=true`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tollgate::limits::redis_link::{RedisError, RedisLink, Script};
use tollgate::limits::resp::{Command, Reply};

use crate::replicas::{prefix, redis, redis_url};

fn cmd(parts: &[&str]) -> Command {
    let mut c = Command::new(parts[0]);
    for p in &parts[1..] {
        c.arg(*p);
    }
    c
}

fn bulk(text: &str) -> Reply {
    Reply::Bulk(text.as_bytes().to_vec())
}

async fn del(link: &RedisLink, keys: &[String]) {
    let mut c = Command::new("DEL");
    for k in keys {
        c.arg(k);
    }
    link.query(&c).await.unwrap();
}

/// Polls `f` once, with the calling task's waker.
async fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *f).poll(cx))).await
}

static INCR: &str = "return redis.call('INCR', KEYS[1])";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_each_get_their_own_reply() {
    if redis().await.is_none() {
        return;
    }
    let link = Arc::new(RedisLink::new(&redis_url()).unwrap());
    let prefix = prefix();
    let script = Arc::new(Script::new(INCR));
    let unawaited = format!("{prefix}unawaited");
    let mut tasks = Vec::new();
    for t in 0..48_usize {
        let (link, prefix, script, unawaited) = (
            link.clone(),
            prefix.clone(),
            script.clone(),
            unawaited.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let counter = format!("{prefix}n:{t}");
            let mut sent = 0_u64;
            for i in 1..=40_usize {
                let n = link.query(&cmd(&["INCR", &counter])).await.unwrap();
                assert_eq!(n, Reply::Int(i64::try_from(i).unwrap()));
                // Some payloads take several reads and writes.
                let size = if (t + i) % 13 == 0 {
                    300_000
                } else {
                    t * 7 + i
                };
                let text = format!("{t}:{i}:{}", "x".repeat(size));
                let echoed = link.query(&cmd(&["ECHO", &text])).await.unwrap();
                assert_eq!(echoed, bulk(&text));
                let mut keys = Command::list();
                keys.arg(unawaited.as_str());
                if link.eval_unawaited(&script, &keys, &Command::list()) {
                    sent += 1;
                }
            }
            sent
        }));
    }
    let mut sent = 0;
    for t in tasks {
        sent += t.await.unwrap();
    }
    assert!(sent > 0);
    // Redis runs one connection's commands in order: this read comes after every unawaited one.
    let counted = link.query(&cmd(&["GET", &unawaited])).await.unwrap();
    assert_eq!(counted, bulk(&sent.to_string()));
    let mut keys: Vec<String> = (0..48).map(|t| format!("{prefix}n:{t}")).collect();
    keys.push(unawaited);
    del(&link, &keys).await;
}

#[tokio::test]
async fn a_request_given_up_leaves_the_next_its_own_reply() {
    if redis().await.is_none() {
        return;
    }
    let link = RedisLink::new(&redis_url()).unwrap();
    let empty = format!("{}empty", prefix());
    // BLPOP holds the connection for 0.3 s, then answers nil; the request stops waiting at 50 ms.
    let blpop = cmd(&["BLPOP", &empty, "0.3"]);
    let blocked = link.query(&blpop);
    assert!(tokio::time::timeout(Duration::from_millis(50), blocked)
        .await
        .is_err());
    let echoed = link.query(&cmd(&["ECHO", "mine"])).await.unwrap();
    assert_eq!(echoed, bulk("mine"));
}

/// The socket wakes only the request that last waited on it. When that request gets its reply
/// and leaves, another waiting request must take its place, or no one reads its reply until
/// the reply's time bound (0.5 s) wakes it.
#[tokio::test]
async fn the_request_the_socket_wakes_hands_over_when_it_leaves() {
    if redis().await.is_none() {
        return;
    }
    let link = Arc::new(RedisLink::new(&redis_url()).unwrap());
    link.query(&cmd(&["PING"])).await.unwrap();
    let empty = format!("{}empty", prefix());
    // A's command holds the connection for 0.1 s; B's, after it, for 0.05 s more.
    let blpop = cmd(&["BLPOP", &empty, "0.1"]);
    let mut a = Box::pin(link.query(&blpop));
    assert!(poll_once(&mut a).await.is_pending());
    let other = link.clone();
    let later = format!("{empty}:later");
    let b = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let reply = other.query(&cmd(&["BLPOP", &later, "0.05"])).await;
        (reply, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    // A waits on the socket again, after B: the socket will wake A alone.
    assert!(poll_once(&mut a).await.is_pending());
    assert_eq!(a.await.unwrap(), Reply::Nil);
    let (reply, waited) = b.await.unwrap();
    assert_eq!(reply.unwrap(), Reply::Nil);
    // About 0.13 s when B takes over from A; 0.5 s when only its time bound wakes it.
    assert!(waited < Duration::from_millis(450), "B waited {waited:?}");
}

#[tokio::test]
async fn a_connection_that_stops_answering_or_is_closed_is_replaced() {
    let Some(mut admin) = redis().await else {
        return;
    };
    let link = RedisLink::new(&redis_url()).unwrap();
    let id = |r: Reply| match r {
        Reply::Int(i) => i,
        other => panic!("CLIENT ID answered {other:?}"),
    };
    let first = id(link.query(&cmd(&["CLIENT", "ID"])).await.unwrap());

    // No reply within the bound: the request fails, the next one gets a new connection.
    let empty = format!("{}empty", prefix());
    let slow = link.query(&cmd(&["BLPOP", &empty, "1"])).await.unwrap_err();
    assert!(matches!(slow, RedisError::Connection(_)), "{slow}");
    let second = id(link.query(&cmd(&["CLIENT", "ID"])).await.unwrap());
    assert_ne!(first, second);

    // Redis closes it: one request fails at most, then a new connection answers.
    redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(second)
        .query_async::<i64>(&mut admin)
        .await
        .unwrap();
    let mut third = None;
    for _ in 0..2 {
        if let Ok(r) = link.query(&cmd(&["CLIENT", "ID"])).await {
            third = Some(id(r));
            break;
        }
    }
    let third = third.expect("a new connection answers after one failure");
    assert_ne!(third, second);
}
