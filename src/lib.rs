//! hive as a library: everything the binary runs, so end-to-end tests can
//! also drive pieces in-process (many simulated edges in one test).

#[cfg(feature = "bench")]
pub mod bench;
pub mod cli;
#[cfg(feature = "cloud")]
pub mod cloud;
pub mod commands;
pub mod config;
pub mod core;
#[cfg(feature = "edge")]
pub mod edge;
pub mod fdlimit;
pub mod features;
#[cfg(test)]
pub mod fuzz;
pub mod http;
pub mod kube;
pub mod logging;
pub mod metrics;
pub mod proto;
pub mod quantity;
pub mod role;
pub mod store;
pub mod tls;

/// Exit code for bad usage or bad configuration.
pub const EXIT_USAGE: i32 = 2;
