//! Who this process is, for the per-person leases that keep concurrent syncs apart.

use std::sync::OnceLock;

/// This process's lease owner name: `host/pid/start-ms/machine`, where `machine` names the
/// boot and the PID namespace. Replicas can share a host name (host networking) and all be
/// pid 1 in their own namespaces: only a process in the same boot and namespace can tell
/// whether another one is still running.
pub fn process_owner() -> &'static str {
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER.get_or_init(|| {
        format!(
            "{}/{}/{}/{}",
            hostname(),
            std::process::id(),
            crate::time::now_ms(),
            machine()
        )
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The boot and PID namespace this process runs in, or `unknown` when they cannot be read
/// (then no lease is ever taken over early: they simply expire).
fn machine() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|b| b.trim().chars().take(8).collect::<String>());
    let namespace = std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .and_then(|link| {
            let link = link.to_string_lossy().into_owned();
            link.strip_prefix("pid:[")
                .and_then(|rest| rest.strip_suffix(']'))
                .map(str::to_string)
        });
    match (boot, namespace) {
        (Some(boot), Some(namespace)) if !boot.is_empty() => format!("{boot}.{namespace}"),
        _ => "unknown".into(),
    }
}

/// True when `owner` names a process in this very boot and PID namespace that no longer
/// runs (killed mid-sync): its lease can be taken over at once instead of waiting for it to
/// expire. Anything it cannot be sure of is alive.
pub fn is_dead_local_owner(owner: &str) -> bool {
    is_dead(owner, process_owner(), |pid| {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    })
}

fn is_dead(owner: &str, mine: &str, running: impl Fn(u32) -> bool) -> bool {
    let theirs: Vec<&str> = owner.split('/').collect();
    let ours: Vec<&str> = mine.split('/').collect();
    let ([host, pid, start, machine], [my_host, my_pid, my_start, my_machine]) =
        (theirs.as_slice(), ours.as_slice())
    else {
        return false;
    };
    if host != my_host || machine != my_machine || *machine == "unknown" || owner == mine {
        return false;
    }
    if pid == my_pid {
        // Same pid, other start time: an earlier process whose pid we inherited.
        return start != my_start;
    }
    pid.parse::<u32>().is_ok_and(|pid| !running(pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_vanished_process_of_this_boot_and_namespace_is_dead() {
        let mine = "h/10/500/b00t.4026531836";
        let running = |pid| pid == 11;
        assert!(is_dead("h/12/400/b00t.4026531836", mine, running), "gone");
        assert!(
            !is_dead("h/11/400/b00t.4026531836", mine, running),
            "still running"
        );
        assert!(
            is_dead("h/10/400/b00t.4026531836", mine, running),
            "our pid, reused"
        );
        assert!(!is_dead(mine, mine, running), "ourselves");
        assert!(
            !is_dead(
                "h/1/400/b00t.4026532000",
                "h/1/500/b00t.4026531836",
                running
            ),
            "pid 1 of another container with the same host name is someone else"
        );
        assert!(
            !is_dead("h/12/400/other.4026531836", mine, running),
            "another boot"
        );
        assert!(!is_dead("elsewhere/12/400/b00t.4026531836", mine, running));
        assert!(
            !is_dead("h/12/400", mine, running),
            "an older owner format expires"
        );
        assert!(!is_dead("h/12/400/unknown", "h/10/500/unknown", running));
    }

    #[test]
    fn this_process_names_its_boot_and_namespace() {
        let mine = process_owner();
        assert_eq!(mine.split('/').count(), 4, "{mine}");
        assert!(!is_dead_local_owner(mine));
    }
}
