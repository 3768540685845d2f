//! The cloud API's error: an HTTP status, a Kubernetes `Status` reason and a
//! message, answered as a `Status` object; store errors map onto it.
//!
//! Owns: that type and its mapping. Must not route or touch the store.

use hyper::{Response, StatusCode};

use crate::cloud::store::StoreError;
use crate::http::{self, Body};

pub struct ApiError(pub(crate) StatusCode, pub(crate) &'static str, pub(crate) String);

impl ApiError {
    pub(crate) fn bad(msg: impl Into<String>) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, "BadRequest", msg.into())
    }
    pub(crate) fn not_found(msg: impl Into<String>) -> ApiError {
        ApiError(StatusCode::NOT_FOUND, "NotFound", msg.into())
    }
    pub fn response(self) -> Response<Body> {
        http::status(self.0, self.1, &self.2)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let m = e.to_string();
        match e {
            StoreError::AlreadyExists(_) => ApiError(StatusCode::CONFLICT, "AlreadyExists", m),
            StoreError::NotFound(_) => ApiError(StatusCode::NOT_FOUND, "NotFound", m),
            StoreError::Conflict { .. } => ApiError(StatusCode::CONFLICT, "Conflict", m),
            StoreError::TooOld { .. } => ApiError(StatusCode::GONE, "Expired", m),
            StoreError::Io(_) => ApiError(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", m),
        }
    }
}
