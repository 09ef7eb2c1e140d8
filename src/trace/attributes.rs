//! Span names and attributes per the OpenTelemetry HTTP semantic conventions.

use std::borrow::Cow;
use std::sync::Arc;

use http::Request;
use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute as semconv;

use crate::request::{RequestContext, Route, original_uri};
use crate::rpc::Call;
use crate::semconv::{known_method, protocol_version, redact_query, server_address};

/// `{method} {http.route}`, or `{method}` when no route is known; `HTTP` stands for methods
/// outside the known set.
pub(crate) fn server_span_name(
    method: Option<&'static str>,
    route: Option<&Route>,
) -> Cow<'static, str> {
    let method = method.unwrap_or("HTTP");
    match route {
        // Concatenated by hand: `format!` costs four times as many instructions here.
        Some(route) => {
            let route = route.as_str();
            let mut name = String::with_capacity(method.len() + 1 + route.len());
            name.push_str(method);
            name.push(' ');
            name.push_str(route);
            Cow::Owned(name)
        }
        None => Cow::Borrowed(method),
    }
}

/// Which parts of a request's URL spans record: `url.path` (server spans), the query
/// (`url.query` on server spans, inside `url.full` on client spans), with the values of the
/// `sensitive` parameters redacted.
#[derive(Clone, Debug)]
pub(crate) struct UrlPolicy {
    pub(crate) path: bool,
    pub(crate) query: bool,
    pub(crate) sensitive: Arc<[Box<str>]>,
}

impl Default for UrlPolicy {
    fn default() -> Self {
        Self {
            path: true,
            query: true,
            sensitive: Self::sensitive_keys(crate::semconv::DEFAULT_SENSITIVE_QUERY_PARAMETERS),
        }
    }
}

impl UrlPolicy {
    /// The sensitive query parameters `keys`, as the layers' setters take them.
    pub(crate) fn sensitive_keys<I, K>(keys: I) -> Arc<[Box<str>]>
    where
        I: IntoIterator<Item = K>,
        K: Into<Box<str>>,
    {
        keys.into_iter().map(Into::into).collect()
    }

    /// The query as recorded: redacted, or `None` when queries are not recorded.
    pub(crate) fn query<'a>(&self, uri: &'a http::Uri) -> Option<Cow<'a, str>> {
        let query = uri.query().filter(|_| self.query)?;
        Some(redact_query(query, &self.sensitive))
    }
}

/// The attributes of a server span known when the request arrives.
pub(crate) fn server_request<B>(
    request: &Request<B>,
    scheme: &'static str,
    cx: &mut RequestContext,
    url: &UrlPolicy,
) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(12);
    push_method(&mut attributes, request.method());
    let uri = original_uri(request);
    if url.path {
        attributes.push(KeyValue::new(semconv::URL_PATH, uri.path().to_owned()));
    }
    // Conditionally required: if and only if one was received.
    if let Some(query) = url.query(uri) {
        attributes.push(KeyValue::new(semconv::URL_QUERY, query.into_owned()));
    }
    if let Some((host, port)) = server_address(uri, request.headers(), scheme) {
        attributes.push(KeyValue::new(semconv::SERVER_ADDRESS, host.to_owned()));
        if let Some(port) = port {
            attributes.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
        }
    }
    attributes.push(KeyValue::new(semconv::URL_SCHEME, scheme));
    if let Some(route) = cx.route(request) {
        attributes.push(KeyValue::new(
            semconv::HTTP_ROUTE,
            route.as_str().to_owned(),
        ));
    }
    if let Some(version) = protocol_version(request.version()) {
        attributes.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, version));
    }
    if let Some(agent) = request
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        attributes.push(KeyValue::new(
            semconv::USER_AGENT_ORIGINAL,
            agent.to_owned(),
        ));
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(peer)) = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        attributes.push(KeyValue::new(
            semconv::CLIENT_ADDRESS,
            peer.ip().to_string(),
        ));
        attributes.push(KeyValue::new(semconv::CLIENT_PORT, i64::from(peer.port())));
    }
    #[cfg(feature = "correlation")]
    if let Some(id) = cx.correlation_id(request) {
        attributes.push(KeyValue::new(
            crate::correlation::CORRELATION_ID_ATTRIBUTE,
            id.as_str().to_owned(),
        ));
    }
    attributes
}

/// `http.request.method`, and `http.request.method_original` for methods outside the known set.
pub(crate) fn push_method(attributes: &mut Vec<KeyValue>, method: &http::Method) {
    match known_method(method) {
        Some(known) => attributes.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, known)),
        None => {
            attributes.push(KeyValue::new(
                semconv::HTTP_REQUEST_METHOD,
                crate::classify::OTHER,
            ));
            attributes.push(KeyValue::new(
                semconv::HTTP_REQUEST_METHOD_ORIGINAL,
                method.as_str().to_owned(),
            ));
        }
    }
}

/// The span name of a gRPC call: `{rpc.method}` when the method is recognized, else `grpc`
/// (`rpc.system.name`), as the RPC conventions have it.
pub(crate) fn rpc_span_name(method: Option<&str>) -> Cow<'static, str> {
    match method {
        Some(method) => Cow::Owned(method.to_owned()),
        None => Cow::Borrowed(crate::semconv::rpc::GRPC),
    }
}

/// `rpc.system.name`, and `rpc.method` when the method is recognized now. A server records
/// an unrecognized method at the end of the call, when its answer says whether the server
/// knows it; a client's unrecognized method is `_OTHER` with `rpc.method_original`.
pub(crate) fn push_rpc(attributes: &mut Vec<KeyValue>, call: &Call, client: bool) {
    use crate::semconv::rpc;
    attributes.push(KeyValue::new(rpc::SYSTEM_NAME, rpc::GRPC));
    match call.method_at_start() {
        Some(method) => attributes.push(KeyValue::new(rpc::METHOD, method.to_owned())),
        None if client => {
            let (method, original) = call.method();
            attributes.push(KeyValue::new(rpc::METHOD, method.to_owned()));
            if let Some(original) = original {
                attributes.push(KeyValue::new(rpc::METHOD_ORIGINAL, original.to_owned()));
            }
        }
        None => {}
    }
}

/// `server.address` and `server.port`.
pub(crate) fn push_server(attributes: &mut Vec<KeyValue>, host: &str, port: Option<u16>) {
    attributes.push(KeyValue::new(semconv::SERVER_ADDRESS, host.to_owned()));
    if let Some(port) = port {
        attributes.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
    }
}

/// The attributes of a gRPC server span known when the call arrives: `server.address` and
/// `server.port` from the `:authority` the client used.
#[cfg_attr(not(feature = "correlation"), allow(unused_variables))]
pub(crate) fn grpc_server_request<B>(
    request: &Request<B>,
    scheme: &'static str,
    call: &Call,
    cx: &mut RequestContext,
) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(8);
    push_rpc(&mut attributes, call, false);
    if let Some((host, port)) = server_address(request.uri(), request.headers(), scheme) {
        push_server(&mut attributes, host, port);
    }
    // The peer of the connection, as tonic's server records it for each request.
    #[cfg(feature = "tonic")]
    if let Some(peer) = request
        .extensions()
        .get::<tonic::transport::server::TcpConnectInfo>()
        .and_then(tonic::transport::server::TcpConnectInfo::remote_addr)
    {
        attributes.push(KeyValue::new(
            semconv::NETWORK_PEER_ADDRESS,
            peer.ip().to_string(),
        ));
        attributes.push(KeyValue::new(
            semconv::NETWORK_PEER_PORT,
            i64::from(peer.port()),
        ));
    }
    #[cfg(feature = "correlation")]
    if let Some(id) = cx.correlation_id(request) {
        attributes.push(KeyValue::new(
            crate::correlation::CORRELATION_ID_ATTRIBUTE,
            id.as_str().to_owned(),
        ));
    }
    attributes
}

/// The value of attribute `key`, as text: for the tests of server and client attributes.
#[cfg(test)]
pub(crate) fn value_of(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

#[cfg(test)]
mod scheme_tests {
    use super::*;

    #[test]
    fn an_absolute_uri_brings_its_own_scheme_and_other_paths_are_grpc() {
        let request = Request::get("https://api.example.com:8443/v1")
            .body(())
            .unwrap();
        let scheme =
            crate::semconv::url_scheme(&request, "http", &crate::trust::TrustPolicy::nobody());
        let attributes = server_request(
            &request,
            scheme,
            &mut RequestContext::new(),
            &UrlPolicy::default(),
        );
        assert_eq!(
            value_of(&attributes, semconv::URL_SCHEME).as_deref(),
            Some("https")
        );
        assert_eq!(
            value_of(&attributes, semconv::SERVER_PORT).as_deref(),
            Some("8443")
        );
        assert_eq!(rpc_span_name(None), "grpc");
        assert_eq!(
            rpc_span_name(Some("shop.v1.Inventory/Get")),
            "shop.v1.Inventory/Get"
        );
    }
}
