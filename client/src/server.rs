//! Server-side helpers shared by the namenode and the datanode (feature `server`): errors become
//! a status plus a JSON [`WireError`], and extractors whose rejections are JSON errors too, so a
//! malformed request is always a 4xx with a body a client can parse, never a panic. Handlers
//! are registered by route type through [`RouterExt`] (see [`typed`]).

pub mod typed;

#[cfg(test)]
mod tests;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind, WireError};

pub use typed::{Params, Req, Resp, RouterExt};

pub use crate::protocol::{ANONYMOUS_USER, USER_HEADER};

/// The caller's user name, from [`USER_HEADER`] (`dr.who` when absent). One extractor for
/// every route, so no route can forget who is calling; a malformed name is a JSON
/// `invalid_argument` error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerName(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CallerName {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(USER_HEADER) else {
            return Ok(CallerName(ANONYMOUS_USER.to_string()));
        };
        let name = value
            .to_str()
            .map_err(|_| Error::invalid_argument(format!("{USER_HEADER} is not valid ASCII")))?;
        crate::permission::validate_name("user", name)?;
        Ok(CallerName(name.to_string()))
    }
}

/// The `Retry-After` of a `busy` answer, in seconds.
pub const BUSY_RETRY_AFTER_SECS: &str = "1";

/// An [`Error`] as an HTTP response.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.kind.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // A busy refusal is routine under load (the client backs off and retries).
        if self.0.kind == ErrorKind::Busy {
            tracing::debug!(kind = %self.0.kind, "{}", self.0.message);
        } else if status.is_server_error() {
            tracing::warn!(kind = %self.0.kind, "{}", self.0.message);
        }
        let mut response = (status, axum::Json(self.0.to_wire())).into_response();
        if self.0.kind == ErrorKind::Busy {
            // A busy datanode frees a transfer slot within moments; a second is a polite wait.
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static(BUSY_RETRY_AFTER_SECS),
            );
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// `axum::Json` whose rejection is a JSON `invalid_argument` error.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let text = rejection.body_text();
    // Path validation errors surface from serde with their own kind's wording.
    let kind = if text.contains("invalid path") {
        ErrorKind::InvalidPath
    } else {
        ErrorKind::InvalidArgument
    };
    ApiError(Error::new(kind, format!("malformed request: {text}")))
}

/// `axum::extract::Query` whose rejection is a JSON error.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    let text = rejection.body_text();
    let kind = if text.contains("invalid path") {
        ErrorKind::InvalidPath
    } else {
        ErrorKind::InvalidArgument
    };
    ApiError(Error::new(kind, format!("malformed query: {text}")))
}

/// `axum::extract::Path` whose rejection is a JSON `invalid_argument` error.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(rejection) => Err(path_rejection(rejection)),
        }
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    ApiError(Error::invalid_argument(format!(
        "malformed path parameter: {}",
        rejection.body_text()
    )))
}

/// Fallback handler: unknown routes are JSON 404s too.
pub async fn not_found() -> ApiError {
    ApiError(Error::not_found("no such endpoint"))
}

/// Fallback for a known route called with the wrong method: a JSON 405.
pub async fn method_not_allowed() -> Response {
    let body = WireError {
        kind: ErrorKind::InvalidArgument,
        message: "method not allowed on this endpoint".to_string(),
        datanode: None,
    };
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

/// Resolves on SIGINT or SIGTERM: the graceful-shutdown trigger of both daemons.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for SIGINT: {e}");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received; shutting down"),
        () = terminate => tracing::info!("SIGTERM received; shutting down"),
    }
}
