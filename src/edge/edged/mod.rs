//! Edged: pods on this node through the container runtime's CRI socket
//! (KubeEdge's slim kubelet). So far: the CRI client (cri/).
//!
//! Owns: the runtime connection. Must not talk to the cloud itself.

pub mod cri;
