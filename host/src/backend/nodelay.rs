//! `TCP_NODELAY` on the database driver's sockets.
//!
//! sqlx 0.9.0 no longer disables Nagle's algorithm on its TCP sockets
//! (upstream issue transact-rs/sqlx#4335, fixed after that release). With
//! Nagle on, a message larger than one segment — a batch of a thousand rows,
//! say — ends with a small segment that waits for the server's delayed ACK:
//! 40 ms per batch on Linux, a 5–6x slowdown for bulk writes over TCP.
//! Until a sqlx release sets it again, wasmig sets it on the sockets a
//! connection attempt opened: the TCP sockets that exist after the connect
//! but did not before. Another thread's connection opened in the same
//! instant may get it too, which only ever lowers its latency.
//!
//! Public so that code comparing itself with wasmig (the benchmark's native
//! sqlx references) can run on the same footing:
//!
//! ```no_run
//! # async fn run() -> Result<(), sqlx::Error> {
//! use sqlx::Connection;
//! let fds = wasmig::backend::nodelay::before_connect();
//! let conn = sqlx::PgConnection::connect("postgres://localhost/app").await?;
//! wasmig::backend::nodelay::after_connect(&fds);
//! # Ok(()) }
//! ```

use std::collections::HashSet;

/// The process's open sockets, before a connect.
pub struct OpenFds(HashSet<i32>);

/// Notes the process's open sockets.
pub fn before_connect() -> OpenFds {
    OpenFds(open_fds())
}

/// Disables Nagle's algorithm on the TCP sockets opened since `before`.
pub fn after_connect(before: &OpenFds) {
    for fd in open_fds().difference(&before.0) {
        set_nodelay(*fd);
    }
}

/// Runs a driver's `connect`, disabling Nagle's algorithm on the sockets it
/// opens as soon as they appear (checked every millisecond), not only once
/// it returns.
///
/// The connect itself is a conversation of small messages (TLS handshake,
/// startup, authentication): with Nagle on, each second small write waits
/// for the server's delayed ACK, 40 ms a time, which on a TLS connection
/// costs more than everything `wasmig status` does.
pub async fn connecting<F: std::future::Future>(connect: F) -> F::Output {
    let before = before_connect();
    let mut done = HashSet::new();
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(connect);
    loop {
        tokio::select! {
            biased;
            out = &mut connect => {
                after_connect(&before);
                return out;
            }
            _ = tick.tick() => {
                for fd in open_fds().difference(&before.0) {
                    if done.insert(*fd) {
                        set_nodelay(*fd);
                    }
                }
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn open_fds() -> HashSet<i32> {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return HashSet::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            std::fs::read_link(e.path())
                .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
        })
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

#[cfg(not(target_os = "linux"))]
fn open_fds() -> HashSet<i32> {
    HashSet::new()
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn set_nodelay(fd: i32) {
    // SAFETY: `fd` was listed in /proc/self/fd a moment ago. If another
    // thread closed it since, the calls below fail with EBADF; if the number
    // was reused, they act on a socket of this process that is checked to be
    // a connected TCP socket before the option is set. Nothing is closed or
    // read through the borrowed descriptor.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let connected_tcp = rustix::net::getpeername(fd)
        .ok()
        .flatten()
        .is_some_and(|addr| std::net::SocketAddr::try_from(addr).is_ok());
    if connected_tcp {
        let _ = rustix::net::sockopt::set_tcp_nodelay(fd, true);
    }
}

#[cfg(not(target_os = "linux"))]
fn set_nodelay(_fd: i32) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_tcp_connection_opened_in_between_gets_nodelay_and_others_do_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let earlier = std::net::TcpStream::connect(address).unwrap();
        let before = before_connect();
        let opened = std::net::TcpStream::connect(address).unwrap();
        after_connect(&before);
        assert!(opened.nodelay().unwrap());
        assert!(!earlier.nodelay().unwrap());
    }
}
