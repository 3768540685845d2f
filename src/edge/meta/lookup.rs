//! Lookup: answer a key from the cache; on a miss ask the cloud through
//! EdgeHub (operation `query`, with a timeout) and cache what it returns.
//! Offline, EdgeHub refuses at once, so a miss is answered "not found
//! locally" without hanging.
//!
//! Owns: the miss path. Must not write the cache except through MetaStore.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use super::server::Watchers;
use super::store::MetaStore;
use super::NAME;
use crate::core::Reply;
use crate::core::{Message, Router};
use crate::edge::names;
use crate::proto::ObjectChange;

/// How long a miss waits for the cloud.
pub const CLOUD_QUERY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub enum LookupError {
    NotFound(String),
    Failed(String),
}

pub struct Lookup {
    pub store: Rc<MetaStore>,
    pub watchers: Rc<RefCell<Watchers>>,
    pub router: Router,
}

impl Lookup {
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, LookupError> {
        match self.store.get(key) {
            Ok(Some((_, content))) => return Ok(content),
            Ok(None) => {}
            Err(e) => return Err(LookupError::Failed(e.to_string())),
        }
        let q = Message::new(NAME, names::GROUP_HUB, key, "query", Vec::new());
        let reply = match self.router.request(crate::edge::names::EDGEHUB, q, CLOUD_QUERY_TIMEOUT).await {
            Ok(r) => r,
            Err(e) => return Err(LookupError::NotFound(format!("{key} not found locally, and the cloud did not answer: {e}"))),
        };
        if Reply::error_of(&reply.content).is_some() {
            return Err(LookupError::NotFound(format!("{key} not found locally; cloud: {}", reply.content_text())));
        }
        let change: ObjectChange = crate::store::from_bytes(&reply.content).map_err(|e| LookupError::Failed(format!("cloud answer for {key}: {e}")))?;
        let content = change.content.clone().ok_or_else(|| LookupError::NotFound(format!("{key} not found")))?;
        match self.store.apply(&change).await {
            Ok(Some(c)) => self.watchers.borrow_mut().notify(&c),
            Ok(None) => {}
            Err(e) => log::warn!(target: NAME, "{key} from the cloud not cached: {e}"),
        }
        Ok(content)
    }
}
