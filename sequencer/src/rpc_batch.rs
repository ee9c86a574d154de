//! Batch requests whose calls run concurrently.
//!
//! jsonrpsee answers a batch by awaiting its calls one after another. For
//! `eth_sendRawTransaction` that means one acceptance-log fsync per transaction of the batch,
//! each waited for before the next transaction is even validated: a batch of 50 took about
//! 50 group commits (85 ms at p50 on the 2-core VM). Here the calls of a batch are started in
//! order and awaited together, so a batch's transactions share group commits; the responses
//! keep the batch's order (JSON-RPC 2.0 lets a server process a batch's calls in any order,
//! and clients match answers by id anyway).
//!
//! A batch's transactions are validated concurrently — sender recovery, most of their cost,
//! spread over the runtime's workers — and pooled in the batch's order ([`take_turn`]), so
//! that nonces 0..n of one sender in one batch all go in as they would one after another.

use std::future::Future;
use std::pin::Pin;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesOrdered;
use jsonrpsee::core::server::BatchResponseBuilder;
use jsonrpsee::server::MethodResponse;
use jsonrpsee::server::middleware::rpc::{Batch, BatchEntry, Notification, Request, RpcServiceT};

/// Most calls of one batch in progress at once; later calls start as earlier ones finish.
pub const MAX_CONCURRENT_CALLS: usize = 256;

tokio::task_local! {
    /// The admission order of the batch whose calls the current task runs.
    static ADMISSION: AdmissionOrder;
}

/// Where the next call of a batch to [`take_turn`] waits: behind the turn taken before it.
#[derive(Default)]
struct AdmissionOrder {
    last: std::cell::RefCell<Option<tokio::sync::oneshot::Receiver<()>>>,
}

/// A call's place in its batch's admission order (see [`take_turn`]).
#[derive(Debug)]
pub struct Turn {
    earlier: Option<tokio::sync::oneshot::Receiver<()>>,
    /// Dropped when this call has had its turn: the next call's wait ends.
    _done: tokio::sync::oneshot::Sender<()>,
}

impl Turn {
    /// Waits until every call of the batch that took its turn before this one has dropped
    /// its [`Turn`].
    pub async fn wait_for_earlier(&mut self) {
        if let Some(earlier) = self.earlier.take() {
            // A dropped sender is the signal; there is no value.
            let _ = earlier.await;
        }
    }
}

/// The calling batch call's turn, taken in the order the calls first run — the batch's order,
/// when taken before the call's first await — or `None` outside a batch.
pub fn take_turn() -> Option<Turn> {
    ADMISSION
        .try_with(|order| {
            let (done, next) = tokio::sync::oneshot::channel();
            let earlier = order.last.replace(Some(next));
            Turn {
                earlier,
                _done: done,
            }
        })
        .ok()
}

/// RPC middleware: passes single calls through, runs a batch's calls concurrently.
#[derive(Debug, Clone)]
pub struct ConcurrentBatch<S> {
    service: S,
    max_response_bytes: usize,
}

impl<S> ConcurrentBatch<S> {
    /// Wraps `service`; a batch's whole answer is limited to `max_response_bytes`.
    pub fn new(service: S, max_response_bytes: u32) -> Self {
        ConcurrentBatch {
            service,
            max_response_bytes: max_response_bytes as usize,
        }
    }
}

type Pending<'a> = Pin<Box<dyn Future<Output = Option<MethodResponse>> + Send + 'a>>;

impl<S> RpcServiceT for ConcurrentBatch<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Clone
        + Send
        + Sync
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        self.service.call(request)
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = MethodResponse> + Send + 'a {
        self.service.notification(n)
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let service = self.service.clone();
        let limit = self.max_response_bytes;
        let calls = async move {
            let mut entries = batch.into_iter();
            let mut running: FuturesOrdered<Pending<'a>> = FuturesOrdered::new();
            let mut answers = BatchResponseBuilder::new_with_limit(limit);
            let mut got_notification = false;
            loop {
                // Keep up to MAX_CONCURRENT_CALLS started, in the batch's order.
                while running.len() < MAX_CONCURRENT_CALLS {
                    let Some(entry) = entries.next() else { break };
                    let pending: Pending<'a> = match entry {
                        Ok(BatchEntry::Call(request)) => {
                            let call = service.call(request);
                            Box::pin(async move { Some(call.await) })
                        }
                        Ok(BatchEntry::Notification(n)) => {
                            got_notification = true;
                            let notification = service.notification(n);
                            Box::pin(async move {
                                notification.await;
                                None
                            })
                        }
                        Err(invalid) => {
                            let (error, id) = invalid.into_parts();
                            let answer = MethodResponse::error(id, error);
                            Box::pin(async move { Some(answer) })
                        }
                    };
                    running.push_back(pending);
                }
                let Some(done) = running.next().await else {
                    break;
                };
                if let Some(answer) = done
                    && let Err(too_big) = answers.append(answer)
                {
                    // The answer would pass the response limit: the whole batch gets that
                    // error (calls already started still finish on their own tasks'
                    // terms: a transaction's durability does not depend on its reply).
                    return too_big;
                }
            }
            if answers.is_empty() && got_notification {
                MethodResponse::notification()
            } else {
                // An empty batch is an invalid request; the builder answers so.
                MethodResponse::from_batch(answers.finish())
            }
        };
        ADMISSION.scope(AdmissionOrder::default(), calls)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use jsonrpsee::ResponsePayload;
    use jsonrpsee::types::{ErrorCode, ErrorObject, Id};
    use serde_json::Value;

    use super::*;

    /// A service whose every call waits at `barrier` and then sleeps `delay(id)` before
    /// answering with its own id: calls awaited one after another never pass the barrier.
    #[derive(Clone)]
    struct Gate {
        barrier: Arc<tokio::sync::Barrier>,
        delay: fn(u64) -> u64,
    }

    impl RpcServiceT for Gate {
        type MethodResponse = MethodResponse;
        type NotificationResponse = MethodResponse;
        type BatchResponse = MethodResponse;

        fn call<'a>(
            &self,
            request: Request<'a>,
        ) -> impl Future<Output = MethodResponse> + Send + 'a {
            let (barrier, delay) = (self.barrier.clone(), self.delay);
            async move {
                barrier.wait().await;
                let Id::Number(n) = request.id else {
                    unreachable!("the tests number their calls")
                };
                tokio::time::sleep(Duration::from_millis(delay(n))).await;
                MethodResponse::response(request.id, ResponsePayload::success(n), usize::MAX)
            }
        }

        fn notification<'a>(
            &self,
            _: Notification<'a>,
        ) -> impl Future<Output = MethodResponse> + Send + 'a {
            let barrier = self.barrier.clone();
            async move {
                barrier.wait().await;
                MethodResponse::notification()
            }
        }

        fn batch<'a>(&self, _: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
            // Never reached: the middleware answers batches itself.
            std::future::ready(MethodResponse::error(
                Id::Null,
                ErrorObject::from(ErrorCode::InternalError),
            ))
        }
    }

    fn call(
        n: u64,
    ) -> Result<BatchEntry<'static>, jsonrpsee::server::middleware::rpc::BatchEntryErr<'static>>
    {
        Ok(BatchEntry::Call(Request::owned(
            "test_call".into(),
            None,
            Id::Number(n),
        )))
    }

    async fn run(service: ConcurrentBatch<Gate>, batch: Batch<'static>) -> Value {
        let answer = tokio::time::timeout(Duration::from_secs(10), service.batch(batch))
            .await
            .expect("the batch's calls did not run concurrently");
        serde_json::from_str(answer.as_json().get()).unwrap()
    }

    fn gate(parties: usize, delay: fn(u64) -> u64, limit: u32) -> ConcurrentBatch<Gate> {
        let barrier = Arc::new(tokio::sync::Barrier::new(parties));
        ConcurrentBatch::new(Gate { barrier, delay }, limit)
    }

    #[tokio::test]
    async fn a_batchs_calls_run_together_and_answer_in_order() {
        // Later calls finish first; the answers still follow the batch.
        let entries = (0..8).map(call).collect();
        let answer = run(gate(8, |n| 40 - 5 * n, u32::MAX), Batch::from(entries)).await;
        let ids: Vec<u64> = answer
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["result"].as_u64().unwrap())
            .collect();
        assert_eq!(ids, (0..8).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn invalid_entries_and_notifications_keep_their_place() {
        let invalid = jsonrpsee::server::middleware::rpc::BatchEntryErr::new(
            Id::Number(99),
            ErrorObject::from(ErrorCode::InvalidRequest),
        );
        let notification = Notification::new("test_note".into(), None);
        let entries = vec![
            call(0),
            Err(invalid),
            Ok(BatchEntry::Notification(notification)),
            call(1),
        ];
        // Two calls and the notification meet at the barrier.
        let answer = run(gate(3, |_| 1, u32::MAX), Batch::from(entries)).await;
        let answers = answer.as_array().unwrap();
        assert_eq!(answers.len(), 3, "{answer}");
        assert_eq!(answers[0]["result"], 0);
        assert_eq!(answers[1]["id"], 99);
        assert_eq!(answers[1]["error"]["code"], -32600);
        assert_eq!(answers[2]["result"], 1);
    }

    #[tokio::test]
    async fn a_batch_answer_over_the_limit_is_one_error() {
        let entries = (0..4).map(call).collect();
        let answer = run(gate(4, |_| 1, 60), Batch::from(entries)).await;
        assert!(answer["error"]["code"].is_i64(), "{answer}");
    }

    #[tokio::test]
    async fn more_calls_than_the_window_all_run() {
        // Pairs of calls meet at the barrier, so the window must keep moving.
        let count = MAX_CONCURRENT_CALLS as u64 + 10;
        let entries = (0..count).map(call).collect();
        let answer = run(gate(2, |_| 0, u32::MAX), Batch::from(entries)).await;
        assert_eq!(answer.as_array().unwrap().len() as u64, count);
    }
}
