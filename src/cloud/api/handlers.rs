//! Request handling of the cloud API: create / get / update / patch /
//! delete and the `/status` and `/scale` subresources (lists and watches in list.rs), each
//! write answered only once it is durable.
//!
//! Owns: the mapping between HTTP methods and the `Store`. Must not parse
//! paths (route.rs) or check objects (object.rs) itself.

use std::sync::Arc;

use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;

pub use super::error::ApiError;
use super::list::list_or_watch;
use super::namespace;
use super::object::{check_shape, encode, keep_identity, ok_json, prepare, rv_of, shown};
use super::protobuf;
use super::route::{discovery, route, Target};
use super::table;
use super::{binding, cascade, patch, scale, workload};
use crate::cloud::store::{Store, Stored};
use crate::http::{self, Body};

/// openapi.v2.Document { swagger: "2.0", info: { title: "hive", version: "v1" } }, protobuf-encoded.
const EMPTY_OPENAPI: &[u8] = &[0x0a, 3, b'2', b'.', b'0', 0x12, 10, 0x0a, 4, b'h', b'i', b'v', b'e', 0x12, 2, b'v', b'1'];

/// Largest request body accepted (Kubernetes' own limit is 3 MiB).
pub const MAX_BODY: usize = 3 << 20;

/// How a request body is encoded, from its Content-Type (as Kubernetes
/// checks it): JSON, or Kubernetes' protobuf for the kinds protobuf.rs has.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Json,
    Protobuf,
}

fn content_type(req: &Request<Incoming>) -> &str {
    req.headers().get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn encoding(req: &Request<Incoming>, patch: bool) -> Result<Encoding, ApiError> {
    let ct = content_type(req);
    if patch {
        patch::patch_type(ct)?;
        return Ok(Encoding::Json);
    }
    let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match media.as_str() {
        // No Content-Type is JSON, Kubernetes' first media type (kubectl 1.20's `create namespace` sends none).
        "application/json" | "" => return Ok(Encoding::Json),
        protobuf::MEDIA_TYPE => return Ok(Encoding::Protobuf),
        _ => {}
    }
    Err(ApiError(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UnsupportedMediaType",
        format!("Content-Type `{ct}`: this server accepts request bodies as application/json or {} (YAML is not decoded)", protobuf::MEDIA_TYPE),
    ))
}

/// The body of a subresource or of a DELETE, which holds a `kind` of one
/// of `api_versions` rather than the resource itself (a Binding, Scale or
/// DeleteOptions), in either encoding; None when there is no body.
async fn body_of_kind(req: Request<Incoming>, kind: &str, api_versions: &[&str], url: &str) -> Result<Option<Value>, ApiError> {
    let enc = encoding(&req, false);
    let body = body_bytes(req).await?;
    // No body: nothing to negotiate (Kubernetes looks at the type only when there is one).
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let v = match enc? {
        Encoding::Json => serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("request body is not a JSON {kind}: {e}")))?,
        Encoding::Protobuf => protobuf::decode_as(&body, kind, api_versions, url)?,
    };
    Ok(Some(v).filter(|v: &Value| !v.is_null()))
}

/// The DeleteOptions of a DELETE to `t` (its body, or none).
async fn delete_options(t: &Target, req: Request<Incoming>) -> Result<cascade::Options, ApiError> {
    let gv = t.res.api_version();
    let opts = body_of_kind(req, "DeleteOptions", &[&gv, "meta.k8s.io/v1", "v1"], "a DELETE takes DeleteOptions").await?;
    cascade::options(opts.as_ref())
}

async fn body_bytes(req: Request<Incoming>) -> Result<bytes::Bytes, ApiError> {
    Ok(Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| {
            if e.to_string().contains("length limit") {
                ApiError(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", format!("request body over {MAX_BODY} bytes"))
            } else {
                ApiError::bad(format!("reading the request body: {e}"))
            }
        })?
        .to_bytes())
}

/// The request's body as a JSON value, whichever encoding it came in.
async fn body_object(t: &Target, req: Request<Incoming>, patch: bool) -> Result<Value, ApiError> {
    let enc = encoding(&req, patch)?;
    let body = body_bytes(req).await?;
    match enc {
        Encoding::Json => serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("request body is not valid JSON: {e}"))),
        Encoding::Protobuf => protobuf::decode(&body, t.res),
    }
}

/// Handle one authenticated request. A write is answered only once it is
/// durable: nothing the API acknowledged is lost to a crash.
pub async fn handle(store: Arc<dyn Store + Send + Sync>, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let writes = req.method() != Method::GET;
    let response = route_request(store.clone(), req).await?;
    if writes {
        smol::unblock(move || store.sync()).await?;
    }
    Ok(response)
}

async fn route_request(store: Arc<dyn Store + Send + Sync>, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    if req.method() == Method::GET {
        if let Some(doc) = discovery(&path) {
            return Ok(ok_json(StatusCode::OK, &doc));
        }
        if path == "/openapi/v2" {
            // kubectl apply insists on an OpenAPI document; an empty one
            // (no schemas) makes it skip client-side validation.
            return Ok(http::bytes(StatusCode::OK, "application/octet-stream", EMPTY_OPENAPI));
        }
    }
    let t = route(&path)?;
    let method = req.method().clone();
    let accept = req.headers().get(hyper::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let want = if method == Method::GET { table::wanted(accept, &query)? } else { None };
    if t.res.read_only() && method != Method::GET {
        return Err(ApiError(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("{} {} are read-only in hive: write core v1 Events (/api/v1/namespaces/<ns>/events)", t.res.group, t.res.plural),
        ));
    }
    if method != Method::GET && query.split('&').any(|kv| kv.strip_prefix("dryRun=").is_some_and(|v| !v.is_empty())) {
        // Ignoring it would make a write the client meant only to try.
        return Err(ApiError::bad("dryRun: hive has no server-side dry run, so nothing was written (use kubectl's --dry-run=client)"));
    }
    if t.scale {
        return scale_request(&*store, &t, method, req).await;
    }
    if t.binding {
        if method != Method::POST {
            return Err(ApiError(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", format!("{method} is not supported on {path}: POST a Binding")));
        }
        let body = body_of_kind(req, "Binding", &["v1"], "pods/binding takes a v1 Binding").await?.unwrap_or(Value::Null);
        return Ok(ok_json(StatusCode::CREATED, &binding::bind(&*store, &t, t.name.as_deref().unwrap_or(""), &body)?));
    }
    match (method, &t.name) {
        (Method::GET, None) => list_or_watch(&*store, &t, &query, want),
        (Method::GET, Some(name)) => {
            let s = store.get(&t.res.key(t.ns.as_deref(), name))?.ok_or_else(|| ApiError::not_found(format!("{} \"{name}\" not found", t.res.plural)))?;
            let v = shown(&s)?;
            Ok(ok_json(
                StatusCode::OK,
                &match want {
                    Some(w) => table::table(t.res.kind, vec![table::row(t.res.kind, &v, w)], Some(s.rev.to_string()), w, true),
                    None if t.res.read_only() => super::events_v1::from_core(&v),
                    None => v,
                },
            ))
        }
        (Method::DELETE, Some(_)) if t.status => {
            Err(ApiError(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", format!("DELETE is not supported on {path}: delete the object itself")))
        }
        (Method::POST, None) if t.res.namespaced && t.ns.is_none() => Err(ApiError(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("{} are namespaced: POST to /.../namespaces/<ns>/{}", t.res.plural, t.res.plural),
        )),
        (Method::POST, None) => {
            let (name, mut v) = prepare(&t, body_object(&t, req, false).await?, true)?;
            if t.res.namespaced {
                namespace::check_open(&*store, t.ns.as_deref().unwrap_or("default"))?;
            }
            if t.res.kind == "Namespace" {
                namespace::complete(&mut v);
            }
            let rev = store.create(&t.res.key(t.ns.as_deref(), &name), &encode(&v))?;
            Ok(ok_json(StatusCode::CREATED, &shown(&Stored { key: String::new(), rev, value: encode(&v) })?))
        }
        (Method::PUT, Some(name)) => {
            let body = body_object(&t, req, false).await?;
            let expected = rv_of(&body)?;
            let key = t.res.key(t.ns.as_deref(), name);
            let cur = store.get(&key)?.ok_or_else(|| ApiError::not_found(format!("{} \"{name}\" not found", t.res.plural)))?;
            let cur_v: Value = serde_json::from_slice(&cur.value).unwrap_or(Value::Null);
            let mut next = body;
            if t.status {
                // Only .status changes through the subresource.
                let status = next.get("status").cloned().unwrap_or(Value::Null);
                next = cur_v.clone();
                if let Some(o) = next.as_object_mut() {
                    o.insert("status".into(), status);
                }
            } else if let (Some(n), Some(st)) = (next.as_object_mut(), cur_v.get("status")) {
                // ...and never through the main resource.
                n.insert("status".into(), st.clone());
            }
            check_shape(&next)?;
            keep_identity(&mut next, &cur_v);
            workload::check_update(t.res.kind, &cur_v, &next)?;
            let (_, v) = prepare(&t, next, false)?;
            let rev = store.update(&key, &encode(&v), expected.or(Some(cur.rev)))?;
            Ok(ok_json(StatusCode::OK, &shown(&Stored { key, rev, value: encode(&v) })?))
        }
        (Method::PATCH, Some(name)) => {
            let ty = patch::patch_type(content_type(&req))?;
            let body = body_object(&t, req, true).await?;
            let key = t.res.key(t.ns.as_deref(), name);
            let cur = store.get(&key)?.ok_or_else(|| ApiError::not_found(format!("{} \"{name}\" not found", t.res.plural)))?;
            let cur_v: Value = serde_json::from_slice(&cur.value).map_err(|e| ApiError::bad(e.to_string()))?;
            let mut v = cur_v.clone();
            patch::apply(t.res.kind, &mut v, &body, ty)?;
            // Only .status changes through the subresource, and never through the main resource.
            let (from, mut v) = if t.status { (v, cur_v.clone()) } else { (cur_v.clone(), v) };
            if let Some(o) = v.as_object_mut() {
                match from.get("status") {
                    Some(st) => o.insert("status".into(), st.clone()),
                    None => o.remove("status"),
                };
            }
            check_shape(&v)?;
            keep_identity(&mut v, &cur_v);
            workload::check_update(t.res.kind, &cur_v, &v)?;
            let expected = rv_of(&body)?.unwrap_or(cur.rev);
            let (_, v) = prepare(&t, v, false)?;
            let rev = store.update(&key, &encode(&v), Some(expected))?;
            Ok(ok_json(StatusCode::OK, &shown(&Stored { key, rev, value: encode(&v) })?))
        }
        (Method::DELETE, None) => {
            // Options are read (a dry run refused) even where only the defaults apply.
            delete_options(&t, req).await?;
            Ok(ok_json(StatusCode::OK, &super::list::delete_collection(&*store, &t, &query)?))
        }
        (Method::DELETE, Some(name)) if t.res.kind == "Namespace" => {
            delete_options(&t, req).await?;
            Ok(ok_json(StatusCode::OK, &namespace::delete(&*store, name)?))
        }
        (Method::DELETE, Some(name)) => {
            let opts = delete_options(&t, req).await?;
            let key = t.res.key(t.ns.as_deref(), name);
            let cur = store.get(&key)?.ok_or_else(|| ApiError::not_found(format!("{} \"{name}\" not found", t.res.plural)))?;
            let cur_v: Value = serde_json::from_slice(&cur.value).unwrap_or(Value::Null);
            let rev = opts.check(&cur_v, cur.rev, &format!("{} \"{name}\"", t.res.plural))?;
            cascade::before_delete(&*store, &cur_v, opts.policy)?;
            let gone = store.delete(&key, rev)?;
            Ok(ok_json(StatusCode::OK, &shown(&gone)?))
        }
        (m, _) => Err(ApiError(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", format!("{m} is not supported on {path}"))),
    }
}

/// GET, PUT and PATCH of `/scale` (kubectl scale).
async fn scale_request(store: &dyn Store, t: &Target, method: Method, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let name = t.name.clone().unwrap_or_default();
    let scale = match method {
        Method::GET => scale::get(store, t, &name)?,
        Method::PUT => {
            let body = body_of_kind(req, "Scale", &["autoscaling/v1"], "/scale takes an autoscaling/v1 Scale").await?.unwrap_or(Value::Null);
            scale::set(store, t, &name, &body, rv_of(&body)?)?
        }
        Method::PATCH => {
            let ty = patch::patch_type(content_type(&req))?;
            let body = body_object(t, req, true).await?;
            let mut cur = scale::get(store, t, &name)?;
            patch::apply("Scale", &mut cur, &body, ty)?;
            scale::set(store, t, &name, &cur, rv_of(&body)?)?
        }
        m => return Err(ApiError(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", format!("{m} is not supported on {}/scale", t.res.plural))),
    };
    Ok(ok_json(StatusCode::OK, &scale))
}
