//! The open-file limit: raised at start to the hard limit, so the API's
//! connections, the tunnel's sessions and the databases do not run out of
//! descriptors at a default soft limit of 1,024.
//!
//! Owns: RLIMIT_NOFILE. Must not open anything.

/// Below this many descriptors a role warns that it may run short.
pub const LOW: u64 = 4096;

/// Raise the soft limit to the hard limit; returns the limit now in force.
pub fn raise() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct given.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            log::warn!(target: "runtime", "cannot read the open-file limit: {}", std::io::Error::last_os_error());
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim.rlim_cur = lim.rlim_max;
            } else {
                log::warn!(target: "runtime", "cannot raise the open-file limit to {}: {}", lim.rlim_max, std::io::Error::last_os_error());
            }
        }
        #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every target
        let cur = lim.rlim_cur as u64;
        cur
    };
    if soft < LOW {
        log::warn!(target: "runtime", "open-file limit is {soft} (hard limit {}): connections may be refused under load; raise it (ulimit -n, LimitNOFILE=)", lim.rlim_max);
    } else {
        log::debug!(target: "runtime", "open-file limit {soft}");
    }
    soft
}
