//! The edge's vocabulary of addresses: each module's name (its router
//! address and log target) and the router groups modules send to. Every
//! edge module takes its names from here, so no module imports another
//! just to address it.
//!
//! Owns: these constants. Must import nothing.

pub const EDGEHUB: &str = "edgehub";
pub const METAMANAGER: &str = "metamanager";
pub const EDGED: &str = "edged";
pub const EVENTBUS: &str = "eventbus";
pub const DEVICETWIN: &str = "devicetwin";
pub const SERVICEBUS: &str = "servicebus";

/// EdgeHub's group: messages for the cloud.
pub const GROUP_HUB: &str = "hub";
/// MetaManager's group: cache reads and writes.
pub const GROUP_META: &str = "meta";
/// Announcements of cache changes (MetaManager → Edged, DeviceTwin).
pub const GROUP_METACHANGE: &str = "metachange";
/// Announcements of cloud connects (EdgeHub → Edged, DeviceTwin).
pub const GROUP_CONNECTION: &str = "connection";
