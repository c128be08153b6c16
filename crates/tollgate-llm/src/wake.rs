//! Wakes kept inside the futures that cause them.
//!
//! Futures polled by one task often talk to each other through channels: an upstream
//! connection's sender hands the request to the connection's driver, which hands back the
//! answer's head and body; a server connection hands the request body to its handler. Each
//! hand-over wakes the other side, and since both are polled by the same task, that is the task
//! waking itself: tokio then puts it back in its run queue as if it had yielded, and on a
//! multi-threaded runtime wakes a sleeping worker thread to come and take it: two thread
//! switches for nothing, on every request. [`Local`] gives such futures a waker of their own:
//! a wake while they are being polled only makes them be polled once more, on the spot; a wake
//! from outside (a socket became ready) wakes the task that polled them last. [`Latched`] is a
//! whole task's future polled that way.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// Polling rounds in a row before the task yields (futures that keep waking themselves must not
/// starve the other tasks of their thread).
const ROUNDS: usize = 8;

#[derive(Default)]
struct Latch {
    /// The task that polled last.
    task: AtomicWaker,
    /// The futures are being polled now.
    polling: AtomicBool,
    /// A wake arrived since the current round of polling began.
    woken: AtomicBool,
}

impl Wake for Latch {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, SeqCst);
        // Seen polling: the round in progress sees `woken` when it ends, and polls again.
        if !self.polling.load(SeqCst) {
            self.task.wake();
        }
    }
}

/// The waker of a group of futures polled together.
pub struct Local {
    latch: Arc<Latch>,
    waker: Waker,
}

impl Default for Local {
    fn default() -> Self {
        let latch = Arc::new(Latch::default());
        Self {
            waker: Waker::from(Arc::clone(&latch)),
            latch,
        }
    }
}

impl Local {
    /// Polls `f` with the connection's own waker, again as long as it woke itself meanwhile (up
    /// to [`ROUNDS`] times); wakes from outside go to `cx`'s task.
    pub fn poll<T>(
        &self,
        cx: &mut Context<'_>,
        mut f: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        let latch = &*self.latch;
        latch.task.register(cx.waker());
        let mut inner = Context::from_waker(&self.waker);
        for _ in 0..ROUNDS {
            latch.polling.store(true, SeqCst);
            // A wake from before this point is for a change the polls below will see.
            latch.woken.store(false, SeqCst);
            let polled = f(&mut inner);
            latch.polling.store(false, SeqCst);
            if polled.is_ready() || !latch.woken.swap(false, SeqCst) {
                return polled;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Runs `f`, which may wake the futures (handing them something), without waking the task:
    /// the caller polls them next.
    pub fn quietly<T>(&self, f: impl FnOnce() -> T) -> T {
        self.latch.polling.store(true, SeqCst);
        let out = f();
        self.latch.polling.store(false, SeqCst);
        out
    }
}

/// A future polled with its own [`Local`] waker: wakes it causes itself while being polled poll
/// it again at once.
pub struct Latched<F> {
    future: Pin<Box<F>>,
    local: Local,
}

impl<F: Future> Latched<F> {
    pub fn new(future: F) -> Self {
        Self {
            future: Box::pin(future),
            local: Local::default(),
        }
    }
}

impl<F: Future> Future for Latched<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let future = &mut this.future;
        this.local.poll(cx, |cx| future.as_mut().poll(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    fn task() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (Arc::clone(&count), Waker::from(count))
    }

    #[test]
    fn a_self_wake_polls_again_instead_of_waking_the_task() {
        let (count, waker) = task();
        let local = Local::default();
        let mut polls = 0;
        let out = local.poll(&mut Context::from_waker(&waker), |cx| {
            polls += 1;
            if polls < 3 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(polls)
            }
        });
        assert_eq!(out, Poll::Ready(3));
        assert_eq!(count.0.load(SeqCst), 0, "the task was never woken");
    }

    #[test]
    fn a_wake_from_outside_wakes_the_task_that_polled_last() {
        let (first, waker1) = task();
        let (second, waker2) = task();
        let local = Local::default();
        let mut kept = None;
        for waker in [&waker1, &waker2] {
            let polled = local.poll(&mut Context::from_waker(waker), |cx| {
                kept = Some(cx.waker().clone());
                Poll::<()>::Pending
            });
            assert!(polled.is_pending());
        }
        kept.expect("registered").wake();
        assert_eq!((first.0.load(SeqCst), second.0.load(SeqCst)), (0, 1));
    }

    #[test]
    fn a_part_that_keeps_waking_itself_yields() {
        let (count, waker) = task();
        let local = Local::default();
        let mut polls = 0;
        let out = local.poll(&mut Context::from_waker(&waker), |cx| {
            polls += 1;
            cx.waker().wake_by_ref();
            Poll::<()>::Pending
        });
        assert!(out.is_pending());
        assert_eq!(polls, ROUNDS);
        assert_eq!(
            count.0.load(SeqCst),
            1,
            "the task is woken to come back later"
        );
    }

    #[test]
    fn a_latched_future_that_wakes_itself_is_polled_again_at_once() {
        let (count, waker) = task();
        let mut polls = 0;
        let mut latched = Latched::new(std::future::poll_fn(|cx| {
            polls += 1;
            if polls == 1 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(polls)
        }));
        let out = Pin::new(&mut latched).poll(&mut Context::from_waker(&waker));
        assert_eq!(out, Poll::Ready(2));
        assert_eq!(count.0.load(SeqCst), 0);
    }

    #[test]
    fn wakes_while_quiet_reach_nobody() {
        let (count, waker) = task();
        let local = Local::default();
        let mut kept = None;
        let _ = local.poll(&mut Context::from_waker(&waker), |cx| {
            kept = Some(cx.waker().clone());
            Poll::<()>::Pending
        });
        let kept = kept.expect("registered");
        local.quietly(|| kept.wake_by_ref());
        assert_eq!(count.0.load(SeqCst), 0);
        kept.wake_by_ref();
        assert_eq!(count.0.load(SeqCst), 1);
    }
}
