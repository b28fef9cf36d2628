//! Rendered `GET /api/v1/people` answers, reused for at most a second: a page of 100 people
//! costs far more to read and render than to send. Any change made through this process drops
//! them at once (the store's revision moves); changes by another process (a cron `sync`, the
//! CLI) show within the second. Past half its life an entry is rendered again in the
//! background while it is still served, so under steady reads no request waits for one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a rendered list may be reused.
pub const LIST_TTL: Duration = Duration::from_secs(1);
/// Bounded memory: bodies larger than a quarter of this are not kept, and the cache starts
/// over when it would grow beyond it.
const MAX_BYTES: usize = 2 * 1024 * 1024;

/// `None` for the whole list, else the page.
pub type ListKey = Option<crate::db::people::Page>;

#[derive(Debug, Clone)]
pub struct CachedList {
    /// The JSON array, ready to send.
    pub body: bytes::Bytes,
    /// Every tracked person, for numbered pages' headers (not counted for keyset pages).
    pub total: i64,
    /// For a keyset page with people after it: the login to continue after.
    pub next_after: Option<String>,
    revision: u64,
    rendered_at: Instant,
}

/// A list as read and rendered, before it is kept.
#[derive(Debug, Default)]
pub struct Rendered {
    pub body: bytes::Bytes,
    pub total: i64,
    pub next_after: Option<String>,
}

#[derive(Debug, Default)]
struct Entries {
    lists: HashMap<ListKey, CachedList>,
    bytes: usize,
    /// Keys being rendered again in the background (one refresh per key at a time), with
    /// when each began: a refresh stuck on a read that never ends is given up after a while.
    refreshing: HashMap<ListKey, Instant>,
}

/// A rendering found in the cache.
#[derive(Debug, Clone)]
pub struct Hit {
    pub list: CachedList,
    /// Past half its life and nobody refreshing it yet: the caller should (see
    /// [`ListCache::begin_refresh`]).
    pub refresh: bool,
}

#[derive(Debug)]
pub struct ListCache {
    ttl: Duration,
    entries: Mutex<Entries>,
}

impl Default for ListCache {
    fn default() -> Self {
        ListCache::new(LIST_TTL)
    }
}

impl ListCache {
    pub fn new(ttl: Duration) -> ListCache {
        ListCache {
            ttl,
            entries: Mutex::new(Entries::default()),
        }
    }

    /// A rendering still valid at `revision`.
    pub fn get(&self, key: &ListKey, revision: u64) -> Option<Hit> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let list = entries
            .lists
            .get(key)
            .filter(|hit| hit.revision == revision && hit.rendered_at.elapsed() < self.ttl)?;
        Some(Hit {
            refresh: list.rendered_at.elapsed() >= self.ttl / 2
                && !self.refresh_under_way(&entries, key),
            list: list.clone(),
        })
    }

    fn refresh_under_way(&self, entries: &Entries, key: &ListKey) -> bool {
        entries
            .refreshing
            .get(key)
            .is_some_and(|began| began.elapsed() < self.ttl * 10)
    }

    /// Claims the background refresh of `key`: `None` when one is already under way. The
    /// claim ends when the returned guard is dropped, whatever became of the refresh.
    pub fn begin_refresh(self: &Arc<Self>, key: &ListKey) -> Option<RefreshClaim> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if self.refresh_under_way(&entries, key) {
            return None;
        }
        let began = Instant::now();
        entries.refreshing.insert(key.clone(), began);
        Some(RefreshClaim {
            cache: self.clone(),
            key: key.clone(),
            began,
        })
    }

    /// Keeps a rendering made from data read at `revision` (read before the query, so a
    /// change during it leaves the entry already stale) by a read that began at
    /// `read_started`: its age counts from then. A rendering kept already from a newer
    /// revision, or from a read that began later (a foreground read that overtook a
    /// background one), stays.
    pub fn put(
        &self,
        key: ListKey,
        revision: u64,
        read_started: Instant,
        rendered: Rendered,
    ) -> CachedList {
        let entry = CachedList {
            body: rendered.body,
            total: rendered.total,
            next_after: rendered.next_after,
            revision,
            rendered_at: read_started,
        };
        let size = entry.body.len();
        if !self.ttl.is_zero() && size <= MAX_BYTES / 4 {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if entries.bytes + size > MAX_BYTES {
                entries.lists.clear();
                entries.bytes = 0;
            }
            if entries
                .lists
                .get(&key)
                .is_some_and(|kept| (kept.revision, kept.rendered_at) > (revision, read_started))
            {
                return entry;
            }
            if let Some(old) = entries.lists.insert(key, entry.clone()) {
                entries.bytes -= old.body.len();
            }
            entries.bytes += size;
        }
        entry
    }
}

/// A background refresh under way; dropping it ends the claim.
#[derive(Debug)]
pub struct RefreshClaim {
    cache: Arc<ListCache>,
    key: ListKey,
    began: Instant,
}

impl Drop for RefreshClaim {
    fn drop(&mut self) {
        let mut entries = self.cache.entries.lock().unwrap_or_else(|e| e.into_inner());
        // Only this claim's mark: a claim given up as stuck may end after a newer one began.
        if entries.refreshing.get(&self.key) == Some(&self.began) {
            entries.refreshing.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_with_revision_and_time() {
        use crate::db::people::Page;
        let page = |offset| Some(Page::Offset { offset, limit: 10 });
        let cache = Arc::new(ListCache::new(Duration::from_millis(100)));
        cache.put(page(0), 7, Instant::now(), Rendered::default());
        let hit = cache.get(&page(0), 7).unwrap();
        assert!(!hit.refresh, "fresh");
        assert!(cache.get(&page(10), 7).is_none(), "other page");
        assert!(cache.get(&page(0), 8).is_none(), "a change was made since");
        std::thread::sleep(Duration::from_millis(60));
        assert!(
            cache.get(&page(0), 7).unwrap().refresh,
            "past half its life"
        );
        let claim = cache.begin_refresh(&page(0)).expect("the first claim");
        assert!(
            !cache.get(&page(0), 7).unwrap().refresh,
            "one refresh at a time"
        );
        assert!(cache.begin_refresh(&page(0)).is_none());
        drop(claim);
        assert!(
            cache.get(&page(0), 7).unwrap().refresh,
            "a dropped claim ends"
        );
        std::thread::sleep(Duration::from_millis(50));
        assert!(cache.get(&page(0), 7).is_none(), "too old");
    }

    #[test]
    fn a_refresh_overtaken_by_a_newer_rendering_does_not_replace_it() {
        let cache = ListCache::new(Duration::from_secs(10));
        let newer = Rendered {
            total: 2,
            ..Default::default()
        };
        let (early, late) = (Instant::now(), Instant::now() + Duration::from_millis(1));
        cache.put(None, 8, early, newer);
        cache.put(None, 7, late, Rendered::default());
        assert_eq!(
            cache.get(&None, 8).unwrap().list.total,
            2,
            "an older revision"
        );
        let later_read = Rendered {
            total: 3,
            ..Default::default()
        };
        cache.put(None, 8, late, later_read);
        cache.put(None, 8, early, Rendered::default());
        assert_eq!(
            cache.get(&None, 8).unwrap().list.total,
            3,
            "a read that began earlier"
        );
    }

    #[test]
    fn a_refresh_that_never_ends_is_given_up() {
        let cache = Arc::new(ListCache::new(Duration::from_millis(10)));
        let stuck = cache.begin_refresh(&None).unwrap();
        assert!(cache.begin_refresh(&None).is_none());
        std::thread::sleep(Duration::from_millis(120));
        let next = cache.begin_refresh(&None).expect("ten lifetimes later");
        drop(stuck);
        assert!(
            cache.begin_refresh(&None).is_none(),
            "the stuck claim ending does not end the newer one"
        );
        drop(next);
    }
}
