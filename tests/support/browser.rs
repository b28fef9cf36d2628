//! Debian's Chromium, headless, driven over the DevTools protocol on a pipe (fds 3 and 4, the
//! `--remote-debugging-pipe` transport): a real browser for the dashboard tests with nothing
//! but serde_json and two pipes. Every URL the page loads is recorded.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long one browser step may take on a busy machine.
const STEP: Duration = Duration::from_secs(30);

pub struct Browser {
    child: Child,
    commands: std::fs::File,
    messages: Receiver<Value>,
    next_id: u64,
    session: String,
    /// Every request the page made: (URL, method).
    pub requests: Vec<(String, String)>,
    /// The status of each document the page loaded, in order.
    pub document_statuses: Vec<(String, u16)>,
    /// A load finished since the last navigation began (its event may come before the
    /// answer to the command that started it).
    loaded: bool,
    _profile: tempfile::TempDir,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // Close-on-exec: only the copies made for Chromium (fds 3 and 4) reach it, and no other
    // process the tests start holds the pipes open.
    // SAFETY: `fds` has room for the two descriptors pipe2(2) writes.
    assert_eq!(
        unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) },
        0,
        "pipe2"
    );
    // SAFETY: both descriptors were just created and are owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// The Chromium binary, or a failure that says how to get it.
fn chromium() -> &'static str {
    for candidate in ["chromium", "chromium-browser"] {
        if Command::new(candidate)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            return candidate;
        }
    }
    panic!("Chromium is not installed: `make test` installs Debian's chromium package (apt-get install chromium)");
}

impl Browser {
    pub fn launch() -> Browser {
        use std::os::fd::AsRawFd;
        let profile = tempfile::tempdir().unwrap();
        let (to_browser_read, to_browser_write) = pipe();
        let (from_browser_read, from_browser_write) = pipe();
        let (child_in, child_out) = (to_browser_read.as_raw_fd(), from_browser_write.as_raw_fd());
        let mut command = Command::new(chromium());
        command
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--remote-debugging-pipe",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-default-apps",
                "--disable-sync",
                "--mute-audio",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: between fork and exec only fcntl and dup2 run, both async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                // Moved above 10 first, so neither end is overwritten by the other's dup2.
                let high_in = libc::fcntl(child_in, libc::F_DUPFD_CLOEXEC, 10);
                let high_out = libc::fcntl(child_out, libc::F_DUPFD_CLOEXEC, 10);
                if high_in < 0
                    || high_out < 0
                    || libc::dup2(high_in, 3) < 0
                    || libc::dup2(high_out, 4) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("start chromium");
        drop(to_browser_read);
        drop(from_browser_write);
        let (tx, messages) = channel();
        let mut from_browser = std::fs::File::from(from_browser_read);
        std::thread::spawn(move || {
            let mut pending = Vec::new();
            let mut chunk = [0u8; 64 * 1024];
            while let Ok(n) = from_browser.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                pending.extend_from_slice(&chunk[..n]);
                while let Some(end) = pending.iter().position(|&b| b == 0) {
                    let message: Vec<u8> = pending.drain(..=end).collect();
                    if let Ok(value) = serde_json::from_slice(&message[..end]) {
                        if tx.send(value).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let mut browser = Browser {
            child,
            commands: std::fs::File::from(to_browser_write),
            messages,
            next_id: 0,
            session: String::new(),
            requests: Vec::new(),
            document_statuses: Vec::new(),
            loaded: false,
            _profile: profile,
        };
        let targets = browser.call_browser("Target.getTargets", json!({}));
        let page = targets["targetInfos"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .expect("a page target")["targetId"]
            .clone();
        let attached = browser.call_browser(
            "Target.attachToTarget",
            json!({"targetId": page, "flatten": true}),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        for domain in ["Page.enable", "Network.enable", "Runtime.enable"] {
            browser.call(domain, json!({}));
        }
        browser
    }

    fn send(&mut self, method: &str, params: Value, session: Option<&str>) -> u64 {
        self.next_id += 1;
        let mut message = json!({"id": self.next_id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.commands.write_all(&bytes).expect("write to chromium");
        self.next_id
    }

    /// The next message, noting what the page loads on the way.
    fn receive(&mut self, deadline: Instant) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = self
            .messages
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("chromium did not answer within {STEP:?}"));
        match message["method"].as_str() {
            Some("Page.loadEventFired") => self.loaded = true,
            Some("Network.requestWillBeSent") => {
                let request = &message["params"]["request"];
                self.requests.push((
                    request["url"].as_str().unwrap_or("").to_string(),
                    request["method"].as_str().unwrap_or("").to_string(),
                ));
            }
            Some("Network.responseReceived") if message["params"]["type"] == "Document" => {
                let response = &message["params"]["response"];
                self.document_statuses.push((
                    response["url"].as_str().unwrap_or("").to_string(),
                    response["status"].as_u64().unwrap_or(0) as u16,
                ));
            }
            _ => {}
        }
        message
    }

    fn wait_for_answer(&mut self, id: u64) -> Value {
        let deadline = Instant::now() + STEP;
        loop {
            let message = self.receive(deadline);
            if message["id"].as_u64() == Some(id) {
                assert!(
                    message.get("error").is_none(),
                    "chromium refused: {message}"
                );
                return message["result"].clone();
            }
        }
    }

    fn call_browser(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params, None);
        self.wait_for_answer(id)
    }

    /// A command to the page.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        let id = self.send(method, params, Some(&session));
        self.wait_for_answer(id)
    }

    fn wait_for_load(&mut self) {
        let deadline = Instant::now() + STEP;
        while !self.loaded {
            self.receive(deadline);
        }
    }

    /// Opens `url` and waits until it has loaded.
    pub fn goto(&mut self, url: &str) {
        self.loaded = false;
        let answer = self.call("Page.navigate", json!({"url": url}));
        assert!(
            answer.get("errorText").is_none(),
            "cannot open {url}: {answer}"
        );
        self.wait_for_load();
    }

    /// Runs `expression` in the page and returns its value.
    pub fn eval(&mut self, expression: &str) -> Value {
        let answer = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        assert!(
            answer.get("exceptionDetails").is_none(),
            "{expression}: {answer}"
        );
        answer["result"]["value"].clone()
    }

    /// Runs `expression` (which submits a form or follows a link) and waits for the page it
    /// leads to.
    pub fn navigate_by(&mut self, expression: &str) {
        self.loaded = false;
        self.eval(expression);
        self.wait_for_load();
    }

    /// The current page's path and query.
    pub fn location(&mut self) -> String {
        self.eval("location.pathname + location.search")
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The visible text of the page.
    pub fn text(&mut self) -> String {
        self.eval("document.body.innerText")
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// A PNG of the viewport.
    pub fn screenshot(&mut self) -> Vec<u8> {
        use base64::Engine;
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}));
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
