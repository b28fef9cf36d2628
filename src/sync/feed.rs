//! The people a pass works through: read in batches by row id (memory stays flat however many
//! are tracked), claimed a chunk at a time in one statement, handed to workers as they ask.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use super::{lease, Pass};
use crate::db::gists;
use crate::db::people::{self, Claim, Person};
use crate::error::Result;
use crate::ids::PersonId;

/// People read from the database at a time.
const BATCH: i64 = 500;

/// One person for a worker, claimed for this pass.
pub(super) struct Work {
    pub person: Person,
    /// Whether the person has gists not yet delivered: without any, and with an unchanged
    /// listing, there is nothing else to do.
    pub has_unfinished: bool,
    /// When the lease was taken (Unix ms): a worker renews one that has waited long.
    pub claimed_at: i64,
}

/// Where the people come from.
pub(super) enum Source {
    /// Everyone tracked, read a batch at a time after the last row id seen.
    Everyone { after: Option<PersonId>, done: bool },
    /// A list resolved up front (named logins, follow-ups).
    Listed(VecDeque<Person>),
}

impl Source {
    pub fn everyone() -> Source {
        Source::Everyone {
            after: None,
            done: false,
        }
    }

    /// The next people to offer, at most `n`; empty when there are none left.
    fn take(
        &mut self,
        pass: &Pass<'_>,
        buffer: &mut VecDeque<Person>,
        n: usize,
    ) -> Result<Vec<Person>> {
        if buffer.is_empty() {
            if let Source::Everyone { after, done } = self {
                if !*done {
                    let batch =
                        people::batch_after(&mut *pass.engine.store.conn()?, *after, BATCH)?;
                    *done = (batch.len() as i64) < BATCH;
                    *after = batch.last().map(|p| p.id).or(*after);
                    buffer.extend(batch);
                }
            }
        }
        if let Source::Listed(listed) = self {
            if buffer.is_empty() {
                buffer.extend(listed.drain(..));
            }
        }
        let n = n.min(buffer.len());
        Ok(buffer.drain(..n).collect())
    }
}

struct Upstream {
    source: Source,
    buffer: VecDeque<Person>,
}

/// Hands out claimed people; whichever worker finds the queue empty claims the next chunk.
pub(super) struct Feed<'p, 'a> {
    pass: &'p Pass<'a>,
    queue: Mutex<VecDeque<Work>>,
    upstream: Mutex<Upstream>,
    /// People claimed in one statement: as many as there are workers, so no claimed person
    /// waits long for one (its lease runs while it waits).
    chunk: usize,
}

impl<'p, 'a> Feed<'p, 'a> {
    pub fn new(pass: &'p Pass<'a>, source: Source, workers: usize) -> Feed<'p, 'a> {
        Feed {
            pass,
            queue: Mutex::new(VecDeque::new()),
            upstream: Mutex::new(Upstream {
                source,
                buffer: VecDeque::new(),
            }),
            chunk: workers.max(1),
        }
    }

    /// The next person to sync, or `None` when everyone has been handed out.
    pub fn next(&self) -> Option<Work> {
        loop {
            if let Some(work) = self
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front()
            {
                return Some(work);
            }
            let mut upstream = self.upstream.lock().unwrap_or_else(|e| e.into_inner());
            // Another worker may have refilled the queue while this one waited.
            if !self
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
            {
                continue;
            }
            let Upstream { source, buffer } = &mut *upstream;
            let offered = match source.take(self.pass, buffer, self.chunk) {
                Ok(offered) if offered.is_empty() => return None,
                Ok(offered) => offered,
                Err(err) => {
                    // The database is not answering: this pass cannot go on reading people.
                    self.pass.stop_reading(err);
                    return None;
                }
            };
            let claimed = self.claim(offered);
            self.queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(claimed);
        }
    }

    /// Claims what it can of `offered`; the rest are skipped (another process holds them,
    /// or already synced them in this pass) or reported (the database failed).
    fn claim(&self, offered: Vec<Person>) -> Vec<Work> {
        let pass = self.pass;
        if pass.options.dry_run {
            return offered
                .into_iter()
                .map(|person| Work {
                    person,
                    has_unfinished: true,
                    claimed_at: pass.now(),
                })
                .collect();
        }
        match self.try_claim(&offered) {
            Ok((claimed, skipped)) => {
                pass.record(|r| r.counts.users_skipped += skipped as i32);
                claimed
            }
            Err(err) => {
                let logins: Vec<&str> = offered.iter().map(|p| p.github_login.as_str()).collect();
                pass.error_many(&logins, err);
                Vec::new()
            }
        }
    }

    fn try_claim(&self, offered: &[Person]) -> Result<(Vec<Work>, usize)> {
        let pass = self.pass;
        let store = &pass.engine.store;
        let ids: Vec<PersonId> = offered.iter().map(|p| p.id).collect();
        let claimed_at = pass.now();
        let terms = Claim {
            owner: pass.owner,
            now: claimed_at,
            ttl_ms: pass.engine.settings.lease_ttl.as_millis() as i64,
            not_synced_since: Some(pass.started_at),
            dead_owner: None,
        };
        store.write(|conn| people::claim_many(conn, &ids, &terms))?;
        let mut rows = people::find_all(&mut *store.conn()?, &ids)?;
        // A lease left by a process on this host that died is taken over at once (the rows
        // it left `sending` still wait out their in-flight bound).
        for row in rows.iter_mut() {
            let Some(dead) = row
                .lease_owner
                .clone()
                .filter(|owner| owner != pass.owner && lease::is_dead_local_owner(owner))
            else {
                continue;
            };
            log::info!(
                "sync: taking over {}'s lease from dead process {dead}",
                row.github_login
            );
            let over = Claim {
                dead_owner: Some(&dead),
                ..terms
            };
            if store.write(|conn| people::claim(conn, row.id, &over))? {
                *row = people::get(&mut *store.conn()?, row.id)?;
            }
        }
        let (mine, others): (Vec<Person>, Vec<Person>) = rows
            .into_iter()
            .partition(|row| row.lease_owner.as_deref() == Some(pass.owner));
        let mine_ids: Vec<PersonId> = mine.iter().map(|p| p.id).collect();
        let unfinished: HashSet<PersonId> = if mine_ids.is_empty() {
            HashSet::new()
        } else {
            gists::people_with_unfinished(&mut *store.conn()?, &mine_ids)?
        };
        // People deleted since the batch was read are neither claimed nor skipped.
        let skipped = others.len();
        let work = mine
            .into_iter()
            .map(|person| Work {
                has_unfinished: unfinished.contains(&person.id),
                person,
                claimed_at,
            })
            .collect();
        Ok((work, skipped))
    }
}
