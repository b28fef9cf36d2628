//! Slow, silent and idle clients against the real `gisttrack serve` under a low open-file
//! limit: the server closes them and answers a normal request again within its header-read
//! timeout (plus a margin), and raises its own limit where the hard one allows.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use gisttrack::http::server::{BODY_READ_TIMEOUT, HEADER_READ_TIMEOUT};
use support::server::{wait_until, Server};
use support::{roomy_fake, TestDb};

/// What a loaded two-core machine may add to a timeout before the test calls it missed.
const MARGIN: Duration = Duration::from_secs(10);

/// `gisttrack serve --no-sync` with its open-file limit set to `soft`/`hard` before it starts.
fn serve_with_limit(db: &TestDb, soft: u64, hard: u64) -> Server {
    let fake = roomy_fake();
    let mut cmd = support::command(db, Some(&fake));
    cmd.env("RUST_LOG", "info")
        .args(["serve", "--listen", "127.0.0.1:0", "--no-sync"]);
    // SAFETY: only setrlimit, async-signal-safe, runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: soft as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // The fakes only need to outlive the start; this server makes no upstream request.
    let server = Server::spawn(cmd);
    drop(fake);
    server
}

/// This test process's own soft limit raised, so that it can hold hundreds of sockets.
fn raise_own_limit() {
    gisttrack::http::server::raise_descriptor_limit().unwrap();
}

fn address(server: &Server) -> String {
    server.url.trim_start_matches("http://").to_string()
}

/// A normal request on a fresh connection, with a short timeout: `Some(status)` if answered.
fn try_healthz(url: &str) -> Option<u16> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(2)))
        .max_idle_connections(0)
        .build()
        .into();
    agent
        .get(format!("{url}/healthz"))
        .call()
        .ok()
        .map(|r| r.status().as_u16())
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// Connects and sends nothing.
    Silent,
    /// Sends a request line, then one header line every half second, never the blank line.
    Slowloris,
    /// Sends whole headers announcing a 10,000-byte body, then one byte every half second.
    EndlessBody,
}

struct Hostile {
    kind: Kind,
    stream: TcpStream,
    connected: Instant,
    received: Vec<u8>,
    closed_after: Option<Duration>,
}

#[test]
fn slow_and_silent_clients_are_closed_and_cannot_hold_the_server() {
    raise_own_limit();
    let db = TestDb::sqlite();
    let server = serve_with_limit(&db, 128, 128);
    assert_eq!(try_healthz(&server.url), Some(200));
    let log = server.log();
    assert!(
        log.contains("serving at most 32 connections at once (open-file limit 128)"),
        "{log}"
    );

    // A kept-alive connection that goes quiet after its answer is closed too.
    let mut idle = TcpStream::connect(address(&server)).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    idle.set_read_timeout(Some(HEADER_READ_TIMEOUT + MARGIN))
        .unwrap();
    let mut answer = [0u8; 512];
    let n = idle.read(&mut answer).unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    let idle_since = Instant::now();
    idle.set_nonblocking(true).unwrap();
    let mut idle_for = None;

    // Ten times what the server may hold, the three kinds interleaved so each gets slots.
    let kinds = [Kind::Silent, Kind::Slowloris, Kind::EndlessBody];
    let flood = Instant::now();
    let mut hostile: Vec<Hostile> = (0..300)
        .map(|i| {
            let kind = kinds[i % 3];
            let mut stream = TcpStream::connect(address(&server)).unwrap();
            let connected = Instant::now();
            match kind {
                Kind::Silent => {}
                Kind::Slowloris => {
                    let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n");
                }
                Kind::EndlessBody => {
                    let _ = stream.write_all(
                        b"POST /api/v1/people HTTP/1.1\r\nHost: localhost\r\n\
                          Content-Type: application/x-www-form-urlencoded\r\n\
                          Content-Length: 10000\r\n\r\nusername=",
                    );
                }
            }
            stream.set_nonblocking(true).unwrap();
            Hostile {
                kind,
                stream,
                connected,
                received: Vec::new(),
                closed_after: None,
            }
        })
        .collect();
    let opened = Instant::now();

    // A normal client keeps trying, each time on a new connection.
    let prober = {
        let url = server.url.clone();
        std::thread::spawn(move || {
            while flood.elapsed() < Duration::from_secs(60) {
                if try_healthz(&url) == Some(200) {
                    return Some(flood.elapsed());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            None
        })
    };

    let mut last_trickle = Instant::now();
    while (idle_for.is_none() || hostile.iter().any(|h| h.closed_after.is_none()))
        && opened.elapsed() < Duration::from_secs(60)
    {
        if idle_for.is_none() {
            match idle.read(&mut answer) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                _ => idle_for = Some(idle_since.elapsed()),
            }
        }
        let trickle = last_trickle.elapsed() >= Duration::from_millis(500);
        if trickle {
            last_trickle = Instant::now();
        }
        for h in hostile.iter_mut().filter(|h| h.closed_after.is_none()) {
            if trickle {
                let byte: &[u8] = match h.kind {
                    Kind::Silent => b"",
                    Kind::Slowloris => b"X-Slow: 1\r\n",
                    Kind::EndlessBody => b"a",
                };
                let _ = h.stream.write(byte);
            }
            let mut buffer = [0u8; 1024];
            match h.stream.read(&mut buffer) {
                Ok(0) => h.closed_after = Some(h.connected.elapsed()),
                Ok(n) => h.received.extend_from_slice(&buffer[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => h.closed_after = Some(h.connected.elapsed()),
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let answered_after = prober.join().unwrap();

    let still_open = hostile.iter().filter(|h| h.closed_after.is_none()).count();
    assert_eq!(still_open, 0, "every slow client is closed within 60 s");
    // Held: closed by a timeout, not turned away at once for want of a slot.
    let held = |kind: Kind| {
        hostile
            .iter()
            .filter(|h| h.kind == kind)
            .filter(|h| h.closed_after.unwrap() >= HEADER_READ_TIMEOUT - Duration::from_secs(1))
            .count()
    };
    let (silent, slowloris, bodies) = (
        held(Kind::Silent),
        held(Kind::Slowloris),
        held(Kind::EndlessBody),
    );
    assert!(
        silent > 0 && slowloris > 0 && bodies > 0,
        "each kind got slots: {silent} silent, {slowloris} slowloris, {bodies} endless bodies"
    );
    assert!(
        silent + slowloris + bodies <= 32,
        "no more than the bound were held"
    );
    let timed_out_bodies = hostile
        .iter()
        .filter(|h| h.kind == Kind::EndlessBody && h.received.starts_with(b"HTTP/1.1 408"))
        .count();
    assert_eq!(
        timed_out_bodies, bodies,
        "each endless body that was held got a 408"
    );
    let last_closed = hostile.iter().filter_map(|h| h.closed_after).max().unwrap();
    assert!(
        last_closed <= HEADER_READ_TIMEOUT + BODY_READ_TIMEOUT + MARGIN,
        "all closed after {last_closed:?}"
    );

    let answered_after = answered_after.expect("a normal request is answered again");
    assert!(
        answered_after <= HEADER_READ_TIMEOUT + MARGIN,
        "a normal request was answered {answered_after:?} after the slow clients came"
    );
    let opening = opened - flood;
    eprintln!(
        "300 slow clients (100 silent, 100 slowloris, 100 endless bodies) at open-file limit \
         128: {} held ({silent} silent, {slowloris} slowloris, {bodies} bodies, answered 408), \
         {} turned away at once; opened in {opening:?}; a normal request answered again \
         {answered_after:?} after the first came; the last one closed {last_closed:?} after \
         it connected",
        silent + slowloris + bodies,
        300 - (silent + slowloris + bodies),
    );

    let idle_for = idle_for.expect("the idle connection is closed");
    assert!(
        idle_for <= HEADER_READ_TIMEOUT + MARGIN,
        "an idle kept-alive connection is closed: {idle_for:?}"
    );
    eprintln!("an idle kept-alive connection was closed after {idle_for:?}");

    assert_eq!(try_healthz(&server.url), Some(200), "still serving");
    let log = server.log();
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(log.contains("connection slots are taken"), "{log}");
}

#[test]
fn the_soft_open_file_limit_is_raised_to_the_hard_one() {
    let db = TestDb::sqlite();
    let server = serve_with_limit(&db, 256, 2048);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.child.id())).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<&str> = open_files.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, ["2048", "2048"], "{open_files}");
    wait_until("the limit to be logged", || {
        server
            .log()
            .contains("open-file limit raised from 256 to 2048")
    });
}

#[test]
fn a_request_head_past_the_limit_is_refused_without_being_held() {
    use gisttrack::http::server::MAX_HEAD_BYTES;
    let db = TestDb::sqlite();
    let server = serve_with_limit(&db, 1024, 1024);
    let mut stream = TcpStream::connect(address(&server)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let filler = "a".repeat(MAX_HEAD_BYTES);
    // Write may fail part-way once the server has answered and closed; the answer counts.
    let _ = write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Filler: {filler}\r\n\r\n"
    );
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "a head over {MAX_HEAD_BYTES} bytes is a 431: {answer:?}"
    );
    // A head within the limit is answered.
    assert_eq!(try_healthz(&server.url), Some(200));
}
