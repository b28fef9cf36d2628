//! Process-wide memory settings, applied before any thread starts.

/// Caps glibc's malloc arenas at the number of cores (at least 2). By default each of a pass's
/// workers can end up with an arena of its own (up to eight per core), and memory freed in one
/// is not reused by another: a long pass over 100,000 people then grows by a third for
/// nothing. Measured by `make bench` (scale). An operator's own `MALLOC_ARENA_MAX` wins.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = libc::c_int::try_from(cores.max(2)).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only sets an allocator parameter; it runs before any other thread.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}
