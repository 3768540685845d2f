//! The beehive: message envelope, router, module trait and the runtime that
//! supervises a role's modules. Nothing here knows cloud or edge specifics.

pub mod message;
pub mod module;
pub mod reply;
pub mod router;
pub mod runtime;

#[cfg(test)]
mod router_tests;
#[cfg(test)]
mod runtime_tests;

pub use message::{Message, MessageId};
pub use module::{Context, Module, ModuleError, ModuleFuture, Shutdown};
pub use reply::Reply;
pub use router::{Router, RouterError};

/// `fut`, or `None` if it takes longer than `d`.
pub async fn timeout<T>(d: std::time::Duration, fut: impl std::future::Future<Output = T>) -> Option<T> {
    use smol::future::FutureExt as _;
    async { Some(fut.await) }
        .or(async {
            smol::Timer::after(d).await;
            None
        })
        .await
}
