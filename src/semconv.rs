//! OpenTelemetry HTTP semantic conventions shared by spans and metrics: bounded method names,
//! protocol versions, and the server address a request was sent to.

use http::Method;
#[cfg(feature = "trace")]
use http::{HeaderMap, Uri, Version};

/// The header (or trailer) carrying a gRPC status, parsed once.
pub(crate) const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

/// RPC attribute names. The RPC conventions are still "development" in
/// `opentelemetry-semantic-conventions` (behind its experimental feature), so the names are
/// written here, exactly as the conventions spell them.
#[cfg(feature = "trace")]
pub(crate) mod rpc {
    pub(crate) const SYSTEM: &str = "rpc.system";
    pub(crate) const SERVICE: &str = "rpc.service";
    pub(crate) const METHOD: &str = "rpc.method";
    pub(crate) const GRPC_STATUS_CODE: &str = "rpc.grpc.status_code";
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

/// `rpc.service` and `rpc.method` of a gRPC request path (`/package.Service/Method`), when it
/// has that shape: two non-empty segments of `A-Z a-z 0-9 _ .`, at most 256 bytes in all.
/// Anything else is not a gRPC method name and must not become a label.
pub(crate) fn rpc_service_method(path: &str) -> Option<(&str, &str)> {
    let name = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    };
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    (path.len() <= 256 && name(service) && name(method)).then_some((service, method))
}

/// `network.protocol.version`.
#[cfg(feature = "trace")]
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
    let port = authority.port_u16().or(match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    });
    Some((host.trim_start_matches('[').trim_end_matches(']'), port))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn rpc_paths_become_service_and_method_only_when_well_formed() {
        assert_eq!(
            rpc_service_method("/inventory.v1.Inventory/GetItem"),
            Some(("inventory.v1.Inventory", "GetItem"))
        );
        for bad in [
            "",
            "/",
            "/only",
            "//Method",
            "/Service/",
            "/a/b/c",
            "/svc/meth od",
            "no-slash/x",
        ] {
            assert_eq!(rpc_service_method(bad), None, "{bad:?}");
        }
        let long = format!("/{}/M", "s".repeat(300));
        assert_eq!(rpc_service_method(&long), None);
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
