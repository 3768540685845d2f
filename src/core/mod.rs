//! The beehive: message envelope, router, module trait and the runtime that
//! supervises a role's modules. Nothing here knows cloud or edge specifics.

pub mod message;
pub mod module;
pub mod router;
pub mod runtime;

#[cfg(test)]
mod router_tests;
#[cfg(test)]
mod runtime_tests;

pub use message::{Message, MessageId};
pub use module::{Context, Module, ModuleError, ModuleFuture, Shutdown};
pub use router::{Router, RouterError};
