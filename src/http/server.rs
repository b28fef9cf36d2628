//! The HTTP server under the routes: the accept loop, the bound on open connections, the
//! timeouts that close slow and idle clients, the descriptor limit, and the graceful stop.
//!
//! warp's filter runs as a service on hyper's own HTTP/1.1 connections (warp's server layer,
//! driven directly): `warp::serve` sets no timer, so hyper's header-read timeout never fires
//! under it and a silent socket is held for ever.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use warp::filters::BoxedFilter;
use warp::reply::Response;

/// How long a client has to send a request's headers, counted from the connection (or the
/// end of the previous answer on a kept-alive one) until the blank line. It is also the
/// keep-alive idle timeout: hyper starts it as soon as a connection waits for a request.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a request body (at most 16 KiB) may take to arrive, once the headers are in.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an answer may wait for a client that reads none of it before the connection is
/// closed.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Open connections at most, whatever the descriptor limit: each costs buffers and a task.
const MAX_CONNECTIONS: u64 = 4096;

/// The most a request's head (its line and headers) may take; hyper's default is 400 KiB
/// per connection, which thousands of slow clients could each make the server hold. A
/// longer head is answered 431.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Headers a request may carry at most.
const MAX_HEADERS: usize = 64;

/// The share of the connection slots one client address may hold, so one host cannot take
/// them all. Loopback clients are not counted: a reverse proxy on this machine speaks for
/// everyone behind it.
const SLOTS_PER_ADDRESS_DIVISOR: usize = 4;

/// The open-file limit asked for when the hard limit is unlimited (Linux's default
/// `fs.nr_open`; an unlimited soft limit is refused).
const UNLIMITED_TARGET: u64 = 1 << 20;

/// The client's address, as the connection gives it, in each request's extensions: the
/// failed-token throttle is kept per address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// Raises the soft limit on open files to the hard one where that is higher. Returns the
/// limit before and after (the same when it could not or need not be raised).
pub fn raise_descriptor_limit() -> std::io::Result<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let before = limit.rlim_cur;
    let hard = limit.rlim_max;
    let target = if limit.rlim_max == libc::RLIM_INFINITY {
        UNLIMITED_TARGET
    } else {
        hard
    };
    if before >= target {
        return Ok((before, before));
    }
    let raised = libc::rlimit {
        rlim_cur: target as libc::rlim_t,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: setrlimit reads only the struct it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((before, target))
}

/// Raises the open-file limit as far as allowed and says how many connections fit under it.
pub fn connection_limit(concurrency: usize) -> usize {
    let descriptors = match raise_descriptor_limit() {
        Ok((before, now)) => {
            if now > before {
                log::info!("open-file limit raised from {before} to {now}");
            }
            now
        }
        Err(err) => {
            log::warn!("cannot read or raise the open-file limit ({err}); assuming 1024");
            1024
        }
    };
    let bound = connection_bound(descriptors, concurrency);
    log::info!(
        "serving at most {bound} connections at once (open-file limit {descriptors}); clients \
         are closed after {}s without a request's headers, {}s without its body, {}s without \
         reading the answer",
        HEADER_READ_TIMEOUT.as_secs(),
        BODY_READ_TIMEOUT.as_secs(),
        WRITE_STALL_TIMEOUT.as_secs()
    );
    bound
}

/// Descriptors kept for everything but client connections: the store's pool (a SQLite
/// connection holds its file and its WAL, and the process one shared-memory file), one per
/// sync worker for GitHub and one for Pipedrive, and the rest: the listener, standard
/// streams, the runtime, requests' own upstream calls, a new client being accepted.
fn reserved_descriptors(concurrency: usize) -> u64 {
    64 + 3 * u64::from(crate::db::POOL_SIZE) + 2 * concurrency as u64
}

/// How many connections may be open at once under `descriptors` open files: what the
/// reserve leaves, but never less than a quarter of them (a very low limit still serves),
/// and never more than [`MAX_CONNECTIONS`].
pub fn connection_bound(descriptors: u64, concurrency: usize) -> usize {
    let spare = descriptors.saturating_sub(reserved_descriptors(concurrency));
    spare.max(descriptors / 4).clamp(1, MAX_CONNECTIONS) as usize
}

/// Serves `routes` on `listener` until `stop` resolves; then stops accepting, lets each
/// connection finish the request under way (idle ones close at once) and returns when all
/// are closed. At most `max_connections` are open at once: a connection beyond them is
/// closed as soon as it is accepted, so the backlog drains and no descriptor is held, and
/// the slots free up as slow clients time out.
pub async fn serve(
    listener: TcpListener,
    routes: BoxedFilter<(Response,)>,
    max_connections: usize,
    stop: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(max_connections));
    let per_address = PerAddress::new((max_connections / SLOTS_PER_ADDRESS_DIVISOR).max(1));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    let routes = hyper_util::service::TowerToHyperService::new(warp::service(routes));
    let mut refused = Tally::default();
    let mut accept_errors = Tally::default();
    let mut stop = std::pin::pin!(stop);
    loop {
        let accepted = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(err) if is_connection_error(&err) => continue,
            Err(err) => {
                // Out of descriptors (EMFILE) or kernel memory: the backlog keeps the client
                // until a slot frees; retry soon rather than spin on a ready listener.
                accept_errors
                    .note(|n| log::warn!("cannot accept connections: {err} ({n} time(s) in 10 s)"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream);
            refused.note(|n| {
                log::warn!(
                    "all {max_connections} connection slots are taken: closed {n} new \
                     connection(s) in 10 s (clients that send nothing are closed after {}s)",
                    HEADER_READ_TIMEOUT.as_secs()
                )
            });
            continue;
        };
        let Some(held) = per_address.take(peer.ip()) else {
            drop(stream);
            refused.note(|n| {
                log::warn!(
                    "{} already holds {} connections, its share: closed {n} new \
                     connection(s) in 10 s",
                    peer.ip(),
                    per_address.limit
                )
            });
            continue;
        };
        let routes = routes.clone();
        let client = ClientAddress(peer.ip());
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(client);
            hyper::service::Service::call(&routes, request)
        });
        let connection = graceful.watch(http.serve_connection(io(stream), service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                // Timeouts, resets and malformed requests: the client's doing, not an error here.
                log::debug!(target: "gisttrack::http", "connection from {peer} ended: {err}");
            }
            drop(held);
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Connections open per client address, so one address holds at most `limit` of them.
struct PerAddress {
    limit: usize,
    open: Arc<std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>>,
}

/// One connection counted against its address until dropped.
struct AddressSlot {
    address: IpAddr,
    open: Arc<std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>>,
}

impl PerAddress {
    fn new(limit: usize) -> PerAddress {
        PerAddress {
            limit,
            open: Default::default(),
        }
    }

    /// A slot for one more connection from `address`, or `None` when it holds its share.
    /// Loopback addresses are never refused (see [`SLOTS_PER_ADDRESS_DIVISOR`]).
    fn take(&self, address: IpAddr) -> Option<Option<AddressSlot>> {
        if address.is_loopback() {
            return Some(None);
        }
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(address).or_default();
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Some(AddressSlot {
            address,
            open: self.open.clone(),
        }))
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// A connection's socket, with the write-stall timeout.
fn io(
    stream: TcpStream,
) -> TokioIo<std::pin::Pin<Box<tokio_io_timeout::TimeoutWriter<TcpStream>>>> {
    let _ = stream.set_nodelay(true);
    let mut stream = tokio_io_timeout::TimeoutWriter::new(stream);
    stream.set_timeout(Some(WRITE_STALL_TIMEOUT));
    TokioIo::new(Box::pin(stream))
}

/// Errors of one connection that surface at accept: the client's, not the listener's.
fn is_connection_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        err.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

/// Counts repeated events and reports them at most once per 10 s, so a flood writes a few
/// lines, not one per connection.
#[derive(Default)]
struct Tally {
    since: Option<Instant>,
    count: u64,
}

impl Tally {
    fn note(&mut self, report: impl FnOnce(u64)) {
        const EVERY: Duration = Duration::from_secs(10);
        self.count += 1;
        let due = self.since.is_none_or(|since| since.elapsed() >= EVERY);
        if due {
            report(self.count);
            self.since = Some(Instant::now());
            self.count = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_holds_at_most_its_share_and_loopback_is_not_counted() {
        let per_address = PerAddress::new(2);
        let remote: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let first = per_address.take(remote).unwrap();
        let second = per_address.take(remote).unwrap();
        assert!(per_address.take(remote).is_none(), "a third is refused");
        assert!(per_address.take(other).is_some(), "another address is not");
        drop(first);
        assert!(
            per_address.take(remote).is_some(),
            "a closed one frees its slot"
        );
        drop(second);
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let held: Vec<_> = (0..10).map(|_| per_address.take(loopback)).collect();
        assert!(
            held.iter().all(Option::is_some),
            "a proxy here is never refused"
        );
    }

    #[test]
    fn connections_get_what_the_reserve_leaves_within_bounds() {
        let reserve = reserved_descriptors(4);
        assert_eq!(connection_bound(1024, 4), (1024 - reserve) as usize);
        assert_eq!(
            connection_bound(128, 4),
            32,
            "a quarter of a very low limit"
        );
        assert_eq!(connection_bound(1 << 20, 4), MAX_CONNECTIONS as usize);
        assert_eq!(connection_bound(0, 4), 1);
        assert!(
            connection_bound(1024, 256) < connection_bound(1024, 4),
            "more workers, more kept back"
        );
    }
}
