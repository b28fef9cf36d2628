//! Holding a GitHub account's claim: taken before anything is decided about the account,
//! renewed before each request made for it, and given up in the transaction that records
//! the outcome (or, on any other way out, when the holder is dropped).

use std::time::Duration;

use crate::db::claims::{self, AccountClaim, ClaimPurpose};
use crate::db::{DbConnection, Store};
use crate::error::{Error, Result};
use crate::ids::GithubUserId;
use crate::sync::lease;

/// How a claim is asked for.
#[derive(Debug, Clone, Copy)]
pub struct Terms {
    /// How long the claim holds without being renewed.
    pub ttl: Duration,
    /// How long to wait for a claim another holder has before saying so: a delete, or a
    /// duplicate add that is about to finish, is over in a moment.
    pub patience: Duration,
}

/// A claim this process holds on one account.
pub struct Claim<'s> {
    store: &'s Store,
    ttl_ms: i64,
    github_id: GithubUserId,
    token: i64,
    login: String,
    held: bool,
}

impl<'s> Claim<'s> {
    /// Takes the account's claim, waiting up to `terms.patience` for another holder to give
    /// it up, else says who holds it (another add, delete or relink of the same user). A
    /// claim left by a process of this host that is gone is taken over at once.
    pub fn take(
        store: &'s Store,
        terms: Terms,
        github_id: GithubUserId,
        purpose: ClaimPurpose,
        login: &str,
    ) -> Result<Claim<'s>> {
        let token = fastrand::i64(1..);
        let ttl_ms = terms.ttl.as_millis() as i64;
        let give_up_at = store.now_ms() + terms.patience.as_millis() as i64;
        let mut dead_owner: Option<String> = None;
        loop {
            let now = store.now_ms();
            let wanted = AccountClaim {
                github_id,
                purpose,
                owner: store.owner().to_string(),
                token,
                claimed_at: now,
                expires_at: now + ttl_ms,
            };
            let holder = store.write(|conn| claims::take(conn, &wanted, dead_owner.as_deref()))?;
            match holder {
                None => {
                    return Ok(Claim {
                        store,
                        ttl_ms,
                        github_id,
                        token,
                        login: login.to_string(),
                        held: true,
                    })
                }
                Some(holder)
                    if dead_owner.is_none()
                        && holder.owner != store.owner()
                        && lease::is_dead_local_owner(&holder.owner) =>
                {
                    log::info!(
                        "taking over the claim on {login} from dead process {}",
                        holder.owner
                    );
                    dead_owner = Some(holder.owner);
                }
                Some(_) if store.now_ms() < give_up_at => {
                    store
                        .clock()
                        .sleep(Duration::from_millis(20 + fastrand::u64(0..30)));
                }
                Some(holder) => {
                    return Err(Error::AccountBusy {
                        login: login.to_string(),
                        purpose: holder.purpose.as_str(),
                        until: holder.expires_at,
                    })
                }
            }
        }
    }

    /// Extends the claim before a request is made under it; an error when it was lost (held
    /// so long that another add or delete took it over), so nothing is sent.
    pub fn renew(&self) -> Result<()> {
        let expires_at = self.store.now_ms() + self.ttl_ms;
        let renewed = self
            .store
            .write(|conn| claims::renew(conn, self.github_id, self.token, expires_at))?;
        renewed.then_some(()).ok_or_else(|| self.lost())
    }

    /// [`Claim::renew`] inside a transaction of the caller's, so what it writes is written
    /// only while the claim holds.
    pub fn renew_in(&self, conn: &mut DbConnection) -> Result<()> {
        let expires_at = self.store.now_ms() + self.ttl_ms;
        claims::renew(conn, self.github_id, self.token, expires_at)?
            .then_some(())
            .ok_or_else(|| self.lost())
    }

    /// Records the outcome and gives the claim up in one transaction: `work` runs only while
    /// the claim still holds, and the account is free the moment its outcome is visible.
    pub fn finish<T>(mut self, mut work: impl FnMut(&mut DbConnection) -> Result<T>) -> Result<T> {
        let (github_id, token) = (self.github_id, self.token);
        let outcome = self.store.transaction(|conn| {
            if !claims::release(conn, github_id, token)? {
                return Err(self.lost());
            }
            work(conn)
        });
        if outcome.is_ok() {
            self.held = false;
        }
        outcome
    }

    /// The store the claim is held in.
    pub fn store(&self) -> &'s Store {
        self.store
    }

    fn lost(&self) -> Error {
        Error::ClaimLost(self.login.clone())
    }
}

impl Drop for Claim<'_> {
    /// Any way out but [`Claim::finish`] gives the claim up here, so the next add or delete
    /// of the account need not wait for it to expire. A failure to (the database away) is
    /// only logged: the claim then expires on its own.
    fn drop(&mut self) {
        // A panic is a process dying: its claim stays, to be taken over or to expire, as
        // after a crash.
        if !self.held || std::thread::panicking() {
            return;
        }
        let released = self
            .store
            .write(|conn| claims::release(conn, self.github_id, self.token));
        if let Err(err) = released {
            log::warn!(
                "could not give up the claim on {}: {err}; it expires on its own",
                self.login
            );
        }
    }
}
