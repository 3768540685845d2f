//! What crosses the cloud ⇄ edge tunnel. Nothing here does I/O.

pub mod frame;
pub mod servicebus;
pub mod ws;

pub use frame::{decode, encode, Frame, FrameError, Hello, ObjectChange, Welcome, PROTOCOL_VERSION};
