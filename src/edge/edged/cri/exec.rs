//! CRI `ExecSync`: run a command in a running container and wait for it
//! (exec probes; lifecycle hooks later). The command's output is capped by
//! the client's reply limit (cri/mod.rs).
//!
//! Owns: those messages and the call. Must not decide what to run.

use std::time::Duration;

use super::{Cri, CriError};

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecSyncRequest {
    #[prost(string, tag = "1")]
    pub container_id: String,
    #[prost(string, repeated, tag = "2")]
    pub cmd: Vec<String>,
    /// Seconds; 0 = no limit.
    #[prost(int64, tag = "3")]
    pub timeout: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecSyncResponse {
    #[prost(bytes = "vec", tag = "1")]
    pub stdout: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub stderr: Vec<u8>,
    #[prost(int32, tag = "3")]
    pub exit_code: i32,
}

impl Cri {
    /// Run `cmd` in container `id`, at most `timeout` (whole seconds, at least 1).
    pub async fn exec_sync(&self, id: &str, cmd: &[String], timeout: Duration) -> Result<ExecSyncResponse, CriError> {
        let req = ExecSyncRequest { container_id: id.into(), cmd: cmd.to_vec(), timeout: timeout.as_secs().max(1) as i64 };
        self.runtime("ExecSync", &req).await
    }
}
