//! Handlers bound to their [`Route`]: `router.typed(routes::Create, create)` registers `create`
//! at the route's method and path, and compiles only if every argument of `create` is one of
//! [`Req<routes::Create>`], [`Params<routes::Create>`], `State` or `ConnectInfo`, and it
//! answers [`Resp<routes::Create>`] or an [`ApiResult`] of one. Stream endpoints register with
//! `router.endpoint(routes::ReadBlock, handler)`, any extractors allowed.
//!
//! ```ignore
//! async fn create(State(nn): Nn, Req(req): Req<routes::Create>) -> ApiResult<Resp<routes::Create>> {
//!     Ok(Resp(nn.create(req).await?))
//! }
//! Router::new().typed(routes::Create, create)
//! ```

use std::future::Future;

use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter};
use axum::Router;

use super::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::error::Error;
use crate::protocol::routes::{Endpoint, Method, PathParams, Route};

/// The request of route `R`: its JSON body for a `POST`/`PUT`, its query for a `GET`. A
/// malformed one is a JSON `invalid_argument` (or `invalid_path`) error, as with
/// [`ApiJson`] and [`ApiQuery`]. It reads the body, so it is a handler's last argument.
pub struct Req<R: Route>(pub R::Request);

impl<S: Send + Sync, R: Route> FromRequest<S> for Req<R> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match R::METHOD {
            Method::Get => {
                let (mut parts, _) = req.into_parts();
                let ApiQuery(query) = ApiQuery::from_request_parts(&mut parts, state).await?;
                Ok(Req(query))
            }
            Method::Post | Method::Put => {
                let ApiJson(body) = ApiJson::from_request(req, state).await?;
                Ok(Req(body))
            }
        }
    }
}

/// The path parameters of endpoint `E`, decoded and validated; a bad one is a JSON
/// `invalid_argument` error.
pub struct Params<E: Endpoint>(pub E::Params);

impl<S: Send + Sync, E: Endpoint> FromRequestParts<S> for Params<E> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ApiPath(raw) =
            ApiPath::<<E::Params as PathParams>::Raw>::from_request_parts(parts, state).await?;
        let params = E::Params::from_raw(raw)
            .map_err(|e| Error::invalid_argument(format!("malformed path parameter: {e}")))?;
        Ok(Params(params))
    }
}

/// The response of route `R`, sent as JSON with status 200.
pub struct Resp<R: Route>(pub R::Response);

impl<R: Route> IntoResponse for Resp<R> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// What a handler of route `R` may answer.
pub trait Reply<R> {}

impl<R: Route> Reply<R> for Resp<R> {}
impl<R: Route> Reply<R> for ApiResult<Resp<R>> {}

/// What a handler of route `R` may take. Other routes' requests are not among them; an
/// extractor a handler needs is added here.
pub trait Arg<R> {}

impl<R: Route> Arg<R> for Req<R> {}
impl<R: Route> Arg<R> for Params<R> {}
impl<R, T> Arg<R> for State<T> {}
impl<R, T> Arg<R> for ConnectInfo<T> {}
impl<R> Arg<R> for super::CallerName {}

/// An axum handler of route `R`: see the module doc. `T` is axum's marker of its arguments.
pub trait TypedHandler<R, T, S>: Handler<T, S> {}

impl<R, S, F, Fut> TypedHandler<R, ((),), S> for F
where
    F: FnOnce() -> Fut + Handler<((),), S>,
    Fut: Future,
    Fut::Output: Reply<R>,
{
}

macro_rules! typed_handler {
    ($($arg:ident),+) => {
        impl<R, S, F, Fut, M, $($arg,)+> TypedHandler<R, (M, $($arg,)+), S> for F
        where
            F: FnOnce($($arg,)+) -> Fut + Handler<(M, $($arg,)+), S>,
            Fut: Future,
            Fut::Output: Reply<R>,
            $($arg: Arg<R>,)+
        {
        }
    };
}

typed_handler!(A1);
typed_handler!(A1, A2);
typed_handler!(A1, A2, A3);
typed_handler!(A1, A2, A3, A4);
typed_handler!(A1, A2, A3, A4, A5);

/// Registers handlers by endpoint type: the method and the path come from the endpoint, so
/// no router names either.
pub trait RouterExt<S> {
    /// `handler` serves JSON route `R`.
    fn typed<R: Route, T: 'static>(self, route: R, handler: impl TypedHandler<R, T, S>) -> Self;

    /// As [`Self::typed`], accepting request bodies up to `max_body_bytes` (axum's default
    /// limit is 2 MB).
    fn typed_limited<R: Route, T: 'static>(
        self,
        route: R,
        handler: impl TypedHandler<R, T, S>,
        max_body_bytes: usize,
    ) -> Self;

    /// `handler` serves stream endpoint `E` with extractors of its own choosing.
    fn endpoint<E: Endpoint, T: 'static>(self, endpoint: E, handler: impl Handler<T, S>) -> Self;
}

impl<S: Clone + Send + Sync + 'static> RouterExt<S> for Router<S> {
    fn typed<R: Route, T: 'static>(self, _: R, handler: impl TypedHandler<R, T, S>) -> Self {
        self.route(R::PATH, on(method_filter(R::METHOD), handler))
    }

    fn typed_limited<R: Route, T: 'static>(
        self,
        _: R,
        handler: impl TypedHandler<R, T, S>,
        max_body_bytes: usize,
    ) -> Self {
        let method_router =
            on(method_filter(R::METHOD), handler).layer(DefaultBodyLimit::max(max_body_bytes));
        self.route(R::PATH, method_router)
    }

    fn endpoint<E: Endpoint, T: 'static>(self, _: E, handler: impl Handler<T, S>) -> Self {
        self.route(E::PATH, on(method_filter(E::METHOD), handler))
    }
}

fn method_filter(method: Method) -> MethodFilter {
    match method {
        Method::Get => MethodFilter::GET,
        Method::Post => MethodFilter::POST,
        Method::Put => MethodFilter::PUT,
    }
}
