//! Who this process is, for the per-person leases that keep concurrent syncs apart.

use std::sync::OnceLock;

/// This process's lease owner name: `host/pid/start-ms`.
pub fn process_owner() -> &'static str {
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER.get_or_init(|| {
        format!(
            "{}/{}/{}",
            hostname(),
            std::process::id(),
            crate::time::now_ms()
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

/// True when `owner` names a process on this host that no longer runs (killed mid-sync):
/// its lease can be taken over at once instead of waiting for it to expire.
pub fn is_dead_local_owner(owner: &str) -> bool {
    let mine = process_owner();
    let mut theirs = owner.splitn(3, '/');
    let mut ours = mine.splitn(3, '/');
    let (Some(host), Some(pid), Some(start)) = (theirs.next(), theirs.next(), theirs.next()) else {
        return false;
    };
    let (Some(my_host), Some(my_pid), Some(my_start)) = (ours.next(), ours.next(), ours.next())
    else {
        return false;
    };
    if host != my_host || owner == mine {
        return false;
    }
    if pid == my_pid {
        // Same pid, other start time: an earlier process whose pid we inherited.
        return start != my_start;
    }
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_dead_and_live_owners() {
        let mine = process_owner();
        let host = mine.split('/').next().unwrap();
        assert!(!is_dead_local_owner(mine));
        assert!(is_dead_local_owner(&format!("{host}/4000000/1")));
        assert!(!is_dead_local_owner("elsewhere/4000000/1"));
        assert!(
            !is_dead_local_owner(&format!("{host}/1/1")),
            "pid 1 is alive"
        );
    }
}
