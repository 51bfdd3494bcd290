//! Over a real socket: the 200 does not wait for handlers, and graceful shutdown drains.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use support::*;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tower::ServiceBuilder;
use webhook_receiver::chirp::{self, Chirp, ChirpEvent, MessageStatus};
use webhook_receiver::stack::VerifyWebhookLayer;
use webhook_receiver::stack::WebhookService;
use webhook_receiver::stack::{Dispatcher, Handlers};
use webhook_receiver::verify::SharedSecret;

async fn serve<S: Clone + Send + Sync + 'static>(
    handlers: Handlers<ChirpEvent, S>,
) -> (
    std::net::SocketAddr,
    Dispatcher<ChirpEvent>,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let dispatcher = Dispatcher::builder(handlers)
        .queue_capacity(1000)
        .concurrency_limit(8)
        .spawn();
    let webhooks = ServiceBuilder::new()
        .layer(VerifyWebhookLayer::new(
            SharedSecret::new([SECRET]).unwrap(),
        ))
        .service(WebhookService::builder(Chirp, dispatcher.clone()).build());
    let app = Router::new().route_service(URI, webhooks);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
    });
    (addr, dispatcher, stop_tx, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_is_sent_before_the_handler_runs() {
    // The handler cannot finish until the test has the 200 in hand.
    let gate = Arc::new(Semaphore::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let handlers = Handlers::with_state((gate.clone(), done.clone())).on(
        chirp::SMS_DELIVERED,
        |_s: MessageStatus, ctx| async move {
            let (gate, done) = ctx.state();
            gate.acquire().await.unwrap().forget();
            done.fetch_add(1, Ordering::SeqCst);
        },
    );
    let (addr, dispatcher, stop, server) = serve(handlers).await;
    let (status, body) = post_chirp(addr, delivered("m1")).await;
    assert_eq!((status, body.as_str()), (200, r#"{"received":true}"#));
    assert_eq!(
        done.load(Ordering::SeqCst),
        0,
        "the 200 went out while the handler was still blocked"
    );
    gate.add_permits(1);
    stop.send(()).unwrap();
    server.await.unwrap();
    dispatcher.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(done.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_runs_every_accepted_event() {
    let done = Arc::new(AtomicUsize::new(0));
    let handlers = Handlers::with_state(done.clone()).on(
        chirp::SMS_DELIVERED,
        |_s: MessageStatus, ctx| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            ctx.state().fetch_add(1, Ordering::SeqCst);
        },
    );
    let (addr, dispatcher, stop, server) = serve(handlers).await;
    let mut accepted = 0;
    let posts: Vec<_> = (0..50)
        .map(|i| tokio::spawn(post_chirp(addr, delivered(&format!("m{i}")))))
        .collect();
    for p in posts {
        if p.await.unwrap().0 == 200 {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 50);
    assert!(
        done.load(Ordering::SeqCst) < 50,
        "handlers are still running when shutdown starts"
    );
    stop.send(()).unwrap();
    server.await.unwrap();
    dispatcher.drain(Duration::from_secs(60)).await.unwrap();
    assert_eq!(done.load(Ordering::SeqCst), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_over_the_network_dispatch_once() {
    let done = Arc::new(AtomicUsize::new(0));
    let handlers = Handlers::with_state(done.clone()).on(
        chirp::SMS_DELIVERED,
        |_s: MessageStatus, ctx| async move {
            ctx.state().fetch_add(1, Ordering::SeqCst);
        },
    );
    let (addr, dispatcher, stop, server) = serve(handlers).await;
    let posts: Vec<_> = (0..32)
        .map(|_| tokio::spawn(post_chirp(addr, delivered("same"))))
        .collect();
    let mut fresh = 0;
    for p in posts {
        let (status, body) = p.await.unwrap();
        assert_eq!(status, 200);
        if !body.contains("duplicate") {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1);
    stop.send(()).unwrap();
    server.await.unwrap();
    dispatcher.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(done.load(Ordering::SeqCst), 1);
}
