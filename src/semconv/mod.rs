//! OpenTelemetry HTTP semantic conventions shared by spans and metrics: bounded method names,
//! protocol versions, and the server address a request was sent to.

#![cfg_attr(
    not(any(feature = "trace", feature = "metrics")),
    allow(dead_code, unused_imports)
)]

pub(crate) mod metric;

#[cfg(feature = "trace")]
use http::HeaderMap;
use http::{Method, Uri, Version};

/// The header (or trailer) carrying a gRPC status, parsed once.
pub(crate) const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

/// RPC attribute names, as the current registry spells them (semantic-conventions v1.44.0,
/// `model/rpc/registry.yaml`). The `opentelemetry-semantic-conventions` 0.33 crate still
/// carries older names (`rpc.system`, `rpc.grpc.status_code`), so the names are written here.
pub(crate) mod rpc {
    pub(crate) const SYSTEM_NAME: &str = "rpc.system.name";
    pub(crate) const METHOD: &str = "rpc.method";
    #[cfg(feature = "trace")]
    pub(crate) const METHOD_ORIGINAL: &str = "rpc.method_original";
    pub(crate) const STATUS_CODE: &str = "rpc.status_code";
    /// The value of `rpc.system.name` for gRPC.
    pub(crate) const GRPC: &str = "grpc";
}

/// `server.address` and `server.port` of a gRPC target string, per the conventions' reading of
/// gRPC's name-resolution syntax: `host:port`, `dns:[//authority/]host[:port]` and
/// `http(s)://host[:port]` give the host and the port (443 for `https`, 80 for `http` when
/// none is written); `unix:path` and `unix://path` give the path and no port; anything else
/// (`zk://...`, several `ipv4:` addresses) is the whole target, with no port.
pub(crate) fn grpc_target(target: &str) -> (String, Option<u16>) {
    let whole = || (target.to_owned(), None);
    if let Some(path) = target
        .strip_prefix("unix://")
        .or_else(|| target.strip_prefix("unix:"))
    {
        return (path.to_owned(), None);
    }
    let (rest, default_port) = if let Some(rest) = target.strip_prefix("dns:") {
        // `dns://authority/host:port`: the authority is the DNS server, not the target.
        let rest = match rest.strip_prefix("//") {
            Some(with_authority) => match with_authority.split_once('/') {
                Some((_, host)) => host,
                None => return whole(),
            },
            None => rest,
        };
        (rest, None)
    } else if let Some(rest) = target.strip_prefix("https://") {
        (rest, Some(443))
    } else if let Some(rest) = target.strip_prefix("http://") {
        (rest, Some(80))
    } else if target.contains("://") || target.contains(',') || target.starts_with("ipv") {
        return whole();
    } else {
        (target, None)
    };
    let rest = rest.split('/').next().unwrap_or(rest);
    match rest.parse::<http::uri::Authority>() {
        Ok(authority) if !authority.host().is_empty() => (
            authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            authority.port_u16().or(default_port),
        ),
        _ => whole(),
    }
}

/// What a layer measures: HTTP requests, or gRPC calls (per the RPC conventions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    Http,
    Grpc,
}

/// The method as the conventions name it: one of the known methods, or `None` for any other
/// (recorded as `_OTHER`, with the original in `http.request.method_original`).
pub(crate) fn known_method(method: &Method) -> Option<&'static str> {
    Some(match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => return None,
    })
}

/// `network.protocol.version`.
#[cfg(any(feature = "trace", feature = "metrics"))]
pub(crate) fn protocol_version(version: Version) -> Option<&'static str> {
    Some(match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_11 => "1.1",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => return None,
    })
}

/// The query parameters whose values spans redact by default (`url.query` and `url.full`),
/// matched case-sensitively: the conventions' list (model/url/registry.yaml: `AWSAccessKeyId`,
/// `Signature`, `sig`, `X-Goog-Signature`, `X-Amz-Signature`, `X-Amz-Credential`,
/// `X-Amz-Security-Token`), then the common names of credentials in query strings (OAuth 2.0's
/// `access_token`, `refresh_token`, `id_token`, `client_secret`, `code`, and `token`,
/// `password`, `secret`, `api_key`, `apikey`), which the conventions ask instrumentations to
/// scrub when they can identify them.
#[cfg(feature = "trace")]
pub const DEFAULT_SENSITIVE_QUERY_PARAMETERS: [&str; 17] = [
    "AWSAccessKeyId",
    "Signature",
    "sig",
    "X-Goog-Signature",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "code",
    "token",
    "password",
    "secret",
    "api_key",
    "apikey",
];

/// `query` with the value of every parameter named in `sensitive` replaced by `REDACTED`, the
/// key kept (`q=OpenTelemetry&sig=REDACTED`); borrowed when nothing is redacted.
#[cfg(feature = "trace")]
pub(crate) fn redact_query<'a, S: AsRef<str>>(
    query: &'a str,
    sensitive: &[S],
) -> std::borrow::Cow<'a, str> {
    let is_sensitive = |pair: &str| {
        pair.split_once('=').is_some_and(|(key, value)| {
            value != "REDACTED" && sensitive.iter().any(|s| s.as_ref() == key)
        })
    };
    if !query.split('&').any(is_sensitive) {
        return std::borrow::Cow::Borrowed(query);
    }
    let mut out = String::with_capacity(query.len());
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, _)) if is_sensitive(pair) => {
                out.push_str(key);
                out.push_str("=REDACTED");
            }
            _ => out.push_str(pair),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `url.scheme` of an inbound request: the scheme the original client used, as far as it is
/// known. In order: the `proto` of a forwarded header (`Forwarded: proto=https`, else the first
/// `X-Forwarded-Proto`) when `forwarded` trusts the caller (a proxy in front of the service);
/// the request URI's (an absolute-form request, HTTP/2's `:scheme`); the layer's `configured`
/// one. Only `http` and `https` are taken from the request, so the label stays bounded.
#[cfg(any(feature = "trace", feature = "metrics"))]
pub(crate) fn url_scheme<B>(
    request: &http::Request<B>,
    configured: &'static str,
    forwarded: &crate::trust::TrustPolicy,
) -> &'static str {
    let known = |scheme: &str| {
        if scheme.eq_ignore_ascii_case("https") {
            Some("https")
        } else if scheme.eq_ignore_ascii_case("http") {
            Some("http")
        } else {
            None
        }
    };
    if !forwarded.trusts_nobody()
        && forwarded.trusts(request)
        && let Some(scheme) = forwarded_proto(request.headers()).and_then(known)
    {
        return scheme;
    }
    request
        .uri()
        .scheme_str()
        .and_then(known)
        .unwrap_or(configured)
}

/// The `proto` of the first element of `Forwarded` (RFC 7239: the one the first proxy added,
/// which saw the client), else the first value of `X-Forwarded-Proto`.
#[cfg(any(feature = "trace", feature = "metrics"))]
fn forwarded_proto(headers: &http::HeaderMap) -> Option<&str> {
    if let Some(forwarded) = headers
        .get(http::header::FORWARDED)
        .and_then(|v| v.to_str().ok())
    {
        let first = forwarded.split(',').next().unwrap_or_default();
        let proto = first.split(';').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case("proto")
                .then(|| value.trim().trim_matches('"'))
        });
        if proto.is_some() {
            return proto;
        }
    }
    let value = headers.get("x-forwarded-proto")?.to_str().ok()?;
    value.split(',').next().map(str::trim)
}

/// The port of `scheme` when a URI names none: 80 for `http`, 443 for `https`.
fn default_port(scheme: Option<&str>) -> Option<u16> {
    match scheme {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    }
}

/// `server.address` and `server.port` of an outbound request's absolute URI: the host without
/// IPv6 brackets, and the port written, else the scheme's.
pub(crate) fn server_of(uri: &Uri) -> Option<(&str, Option<u16>)> {
    let host = uri.host()?;
    let port = uri.port_u16().or_else(|| default_port(uri.scheme_str()));
    Some((host.trim_start_matches('[').trim_end_matches(']'), port))
}

#[cfg(feature = "trace")]
/// `server.address` and `server.port` of an inbound request: from the URI authority (HTTP/2
/// `:authority`, absolute-form requests), else from the `Host` header. The port is the explicit
/// one, else the default of `scheme`.
pub(crate) fn server_address<'a>(
    uri: &'a Uri,
    headers: &'a HeaderMap,
    scheme: &str,
) -> Option<(&'a str, Option<u16>)> {
    let raw = match uri.authority() {
        Some(authority) => authority.as_str(),
        None => headers.get(http::header::HOST)?.to_str().ok()?,
    };
    let authority: http::uri::Authority = raw.parse().ok()?;
    // Borrow the host from the request rather than the parsed copy: it is `host[:port]` once
    // any user information is dropped.
    let host_port = raw.rsplit_once('@').map_or(raw, |(_, host_port)| host_port);
    let host = host_port.get(..authority.host().len())?;
    let port = authority.port_u16().or_else(|| default_port(Some(scheme)));
    Some((host.trim_start_matches('[').trim_end_matches(']'), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(feature = "trace", feature = "metrics"))]
    #[test]
    fn the_scheme_comes_from_a_trusted_proxy_the_uri_or_the_configuration() {
        use crate::trust::TrustPolicy;
        let request = |uri: &str, headers: &[(&str, &str)]| {
            let mut builder = http::Request::get(uri);
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            builder.body(()).unwrap()
        };
        let (nobody, everyone) = (TrustPolicy::nobody(), TrustPolicy::everyone());
        let proxied = request("/", &[("x-forwarded-proto", "https")]);
        assert_eq!(url_scheme(&proxied, "http", &nobody), "http", "untrusted");
        assert_eq!(url_scheme(&proxied, "http", &everyone), "https");
        let forwarded = request(
            "/",
            &[
                (
                    "forwarded",
                    "for=192.0.2.60;Proto=\"HTTPS\";by=203.0.113.43, proto=http",
                ),
                ("x-forwarded-proto", "http"),
            ],
        );
        assert_eq!(
            url_scheme(&forwarded, "http", &everyone),
            "https",
            "`Forwarded` first, its first element"
        );
        let odd = request("/", &[("x-forwarded-proto", "gopher, https")]);
        assert_eq!(
            url_scheme(&odd, "http", &everyone),
            "http",
            "only http and https"
        );
        let no_proto = request(
            "/",
            &[
                ("forwarded", "for=192.0.2.60"),
                ("x-forwarded-proto", "https"),
            ],
        );
        assert_eq!(url_scheme(&no_proto, "http", &everyone), "https");
        let absolute = request("https://api.example.com/", &[]);
        assert_eq!(url_scheme(&absolute, "http", &nobody), "https");
        assert_eq!(url_scheme(&request("/", &[]), "https", &everyone), "https");
    }

    #[test]
    fn protocol_versions_as_the_conventions_write_them() {
        use http::Version;
        let versions = [
            Version::HTTP_09,
            Version::HTTP_10,
            Version::HTTP_11,
            Version::HTTP_2,
            Version::HTTP_3,
        ]
        .map(protocol_version);
        assert_eq!(
            versions,
            [Some("0.9"), Some("1.0"), Some("1.1"), Some("2"), Some("3")]
        );
    }

    #[cfg(feature = "trace")]
    #[test]
    fn sensitive_query_values_are_redacted_keys_kept() {
        let default = &DEFAULT_SENSITIVE_QUERY_PARAMETERS;
        assert_eq!(redact_query("q=OpenTelemetry", default), "q=OpenTelemetry");
        assert!(matches!(
            redact_query("q=1&page=2", default),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(
            redact_query("q=OpenTelemetry&sig=abc", default),
            "q=OpenTelemetry&sig=REDACTED"
        );
        assert_eq!(
            redact_query(
                "AWSAccessKeyId=AKIA&Signature=xyz&X-Goog-Signature=g&Expires=1",
                default
            ),
            "AWSAccessKeyId=REDACTED&Signature=REDACTED&X-Goog-Signature=REDACTED&Expires=1"
        );
        assert_eq!(
            redact_query("SIG=abc&sig&sig=", default),
            "SIG=abc&sig&sig=REDACTED",
            "case-sensitive; a key without `=` has no value to hide"
        );
        assert_eq!(
            redact_query("token=t&a=b", &["token"]),
            "token=REDACTED&a=b",
            "a user list replaces the defaults"
        );
        assert_eq!(redact_query("sig=1", &["token"]), "sig=1");
    }

    #[test]
    fn methods_outside_the_known_set_are_other() {
        for (method, expected) in [
            (Method::GET, Some("GET")),
            (Method::HEAD, Some("HEAD")),
            (Method::POST, Some("POST")),
            (Method::PUT, Some("PUT")),
            (Method::DELETE, Some("DELETE")),
            (Method::CONNECT, Some("CONNECT")),
            (Method::OPTIONS, Some("OPTIONS")),
            (Method::TRACE, Some("TRACE")),
            (Method::PATCH, Some("PATCH")),
            (Method::from_bytes(b"PURGE").unwrap(), None),
            (Method::from_bytes(b"get").unwrap(), None),
        ] {
            assert_eq!(known_method(&method), expected, "{method}");
        }
    }

    #[test]
    fn grpc_targets_per_the_conventions_examples() {
        for (target, address, port) in [
            ("grpc.io:50051", "grpc.io", Some(50051)),
            ("dns://1.2.3.4/grpc.io:50051", "grpc.io", Some(50051)),
            ("dns:///grpc.io:50051", "grpc.io", Some(50051)),
            ("dns:grpc.io:50051", "grpc.io", Some(50051)),
            (
                "unix:///run/containerd/containerd.sock",
                "/run/containerd/containerd.sock",
                None,
            ),
            ("unix:relative.sock", "relative.sock", None),
            (
                "zk://zookeeper:2181/my-server",
                "zk://zookeeper:2181/my-server",
                None,
            ),
            (
                "ipv4:198.51.100.123:50051,198.51.100.124:50051",
                "ipv4:198.51.100.123:50051,198.51.100.124:50051",
                None,
            ),
            (
                "http://inventory.internal:50051",
                "inventory.internal",
                Some(50051),
            ),
            (
                "https://inventory.example.com",
                "inventory.example.com",
                Some(443),
            ),
            ("http://[::1]:50051/", "::1", Some(50051)),
            ("inventory", "inventory", None),
            ("dns://only-authority", "dns://only-authority", None),
            ("bad host:1", "bad host:1", None),
        ] {
            assert_eq!(grpc_target(target), (address.to_owned(), port), "{target}");
        }
    }

    #[cfg(feature = "trace")]
    #[test]
    fn protocol_versions() {
        assert_eq!(protocol_version(Version::HTTP_09), Some("0.9"));
        assert_eq!(protocol_version(Version::HTTP_10), Some("1.0"));
        assert_eq!(protocol_version(Version::HTTP_11), Some("1.1"));
        assert_eq!(protocol_version(Version::HTTP_2), Some("2"));
        assert_eq!(protocol_version(Version::HTTP_3), Some("3"));
    }

    #[cfg(feature = "trace")]
    #[test]
    fn server_address_from_authority_or_host() {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::HOST, "example.com:8080".parse().unwrap());
        let origin: Uri = "/users/1".parse().unwrap();
        assert_eq!(
            server_address(&origin, &headers, "http"),
            Some(("example.com", Some(8080)))
        );

        headers.insert(http::header::HOST, "example.com".parse().unwrap());
        assert_eq!(
            server_address(&origin, &headers, "http"),
            Some(("example.com", Some(80)))
        );
        assert_eq!(
            server_address(&origin, &headers, "https"),
            Some(("example.com", Some(443)))
        );
        assert_eq!(
            server_address(&origin, &headers, "ftp"),
            Some(("example.com", None))
        );

        headers.insert(http::header::HOST, "[::1]:3000".parse().unwrap());
        assert_eq!(
            server_address(&origin, &headers, "http"),
            Some(("::1", Some(3000)))
        );

        let absolute: Uri = "http://api.internal:9000/x".parse().unwrap();
        assert_eq!(
            server_address(&absolute, &headers, "http"),
            Some(("api.internal", Some(9000)))
        );

        headers.insert(http::header::HOST, "bad host".parse().unwrap());
        assert_eq!(server_address(&origin, &headers, "http"), None);
        assert_eq!(server_address(&origin, &HeaderMap::new(), "http"), None);
    }
}
