//! Who is trusted across the service boundary: [`TrustPolicy`] decides whose inbound
//! correlation ID and trace context are taken, [`PropagateTo`] which destinations outbound
//! calls send the request's context to.
//!
//! **Inbound.** A caller chooses the correlation ID that lands in your logs and, through
//! `traceparent`, the trace ID and the sampling decision of your spans. Behind a gateway that
//! is what you want; on a public endpoint it lets anyone pick them. The server layers trust
//! every caller by default; [`TrustPolicy::nobody`] and [`TrustPolicy::when`] narrow that. An
//! untrusted caller's correlation ID is replaced by a new one, and its trace context becomes a
//! link of a new trace, its baggage dropped.
//!
//! ```
//! use std::net::SocketAddr;
//! use axum::extract::ConnectInfo;
//! use tower_telemetry::trust::TrustPolicy;
//!
//! // Only callers on this machine (a sidecar, a gateway on the same host).
//! let local = TrustPolicy::when(|caller| {
//!     caller
//!         .extensions()
//!         .get::<ConnectInfo<SocketAddr>>()
//!         .is_some_and(|ConnectInfo(peer)| peer.ip().is_loopback())
//! });
//! let request = http::Request::get("/").body(()).unwrap();
//! assert!(!local.trusts(&request), "no peer address recorded: not trusted");
//! assert!(TrustPolicy::everyone().trusts(&request));
//! ```
//!
//! **Outbound.** The correlation ID, the trace context and above all baggage (which may carry
//! user IDs or other personal data) describe the request being handled. Sent to a third-party
//! API they leak that data and let the third party correlate your traffic. The client layers
//! ([`CorrelationClientLayer`](crate::CorrelationClientLayer),
//! `TraceClientLayer`) send them to every host by default, which suits calls inside one
//! trust boundary; restrict them with a policy when a client also calls out.
//!
//! ```
//! use tower_telemetry::trust::PropagateTo;
//!
//! // Our own services only: one host, and every host under a domain (leading dot).
//! let internal = PropagateTo::hosts(["billing", ".svc.cluster.local"]);
//! assert!(internal.allows(&"http://billing:8080/v1/invoices".parse().unwrap()));
//! assert!(internal.allows(&"http://users.default.svc.cluster.local/u/1".parse().unwrap()));
//! assert!(!internal.allows(&"https://api.example.com/v1".parse().unwrap()));
//! // A URI without a host (origin-form) is not an allowed destination.
//! assert!(!internal.allows(&"/relative".parse().unwrap()));
//! ```

use std::fmt;
use std::sync::Arc;

use http::{Extensions, HeaderMap, Method, Request, Uri, Version};

/// Which callers' correlation IDs and trace contexts a server layer takes. See the
/// [module docs](self).
#[derive(Clone)]
pub struct TrustPolicy {
    rule: Trust,
}

#[derive(Clone)]
enum Trust {
    Everyone,
    Nobody,
    When(Arc<dyn Fn(&Caller<'_>) -> bool + Send + Sync>),
}

impl TrustPolicy {
    /// Every caller (the default): a valid inbound correlation ID is kept, an inbound trace
    /// context becomes the parent of the server span and its baggage is kept.
    pub fn everyone() -> Self {
        Self {
            rule: Trust::Everyone,
        }
    }

    /// No caller: every request gets a new correlation ID, and every server span starts a new
    /// trace with a link to the caller's span (as Go's otelhttp `WithPublicEndpoint`), without
    /// the caller's baggage. For public endpoints.
    pub fn nobody() -> Self {
        Self {
            rule: Trust::Nobody,
        }
    }

    /// The callers for which `is_trusted` is true. It sees the request head: the peer address
    /// is in the extensions when the server records it (axum's `ConnectInfo`, tonic's
    /// `TcpConnectInfo`), as are client certificates and anything an outer layer inserted. A
    /// panic in `is_trusted` counts as false.
    pub fn when<F>(is_trusted: F) -> Self
    where
        F: Fn(&Caller<'_>) -> bool + Send + Sync + 'static,
    {
        Self {
            rule: Trust::When(Arc::new(is_trusted)),
        }
    }

    /// Whether the caller of `request` is trusted.
    pub fn trusts<B>(&self, request: &Request<B>) -> bool {
        match &self.rule {
            Trust::Everyone => true,
            Trust::Nobody => false,
            Trust::When(is_trusted) => {
                let caller = Caller {
                    method: request.method(),
                    uri: request.uri(),
                    version: request.version(),
                    headers: request.headers(),
                    extensions: request.extensions(),
                };
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| is_trusted(&caller)))
                    .unwrap_or(false)
            }
        }
    }

    /// Whether no caller is trusted, so that inbound headers need not be read at all.
    pub(crate) fn trusts_nobody(&self) -> bool {
        matches!(self.rule, Trust::Nobody)
    }
}

impl Default for TrustPolicy {
    fn default() -> Self {
        Self::everyone()
    }
}

impl fmt::Debug for TrustPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.rule {
            Trust::Everyone => "TrustPolicy::everyone()",
            Trust::Nobody => "TrustPolicy::nobody()",
            Trust::When(_) => "TrustPolicy::when(..)",
        })
    }
}

/// The head of an inbound request, as a [`TrustPolicy::when`] predicate sees it.
#[derive(Debug)]
pub struct Caller<'a> {
    method: &'a Method,
    uri: &'a Uri,
    version: Version,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
}

impl Caller<'_> {
    /// The request method.
    pub fn method(&self) -> &Method {
        self.method
    }

    /// The request URI.
    pub fn uri(&self) -> &Uri {
        self.uri
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        self.headers
    }

    /// The request extensions: the peer address, client certificates, what outer layers put
    /// there.
    pub fn extensions(&self) -> &Extensions {
        self.extensions
    }
}

/// Which destinations an outbound call may carry the request's context to. Hosts are compared
/// without regard to ASCII case; the port does not matter.
#[derive(Clone)]
pub struct PropagateTo {
    rule: Rule,
}

#[derive(Clone)]
enum Rule {
    All,
    None,
    Hosts(Arc<[Box<str>]>),
    Matching(Arc<dyn Fn(&Uri) -> bool + Send + Sync>),
}

impl PropagateTo {
    /// Every destination (the client layers' default).
    pub fn all() -> Self {
        Self { rule: Rule::All }
    }

    /// No destination.
    pub fn none() -> Self {
        Self { rule: Rule::None }
    }

    /// The listed hosts: `billing` matches that host exactly, `.svc.cluster.local` (a leading
    /// dot) matches every host under that domain.
    pub fn hosts<I, H>(hosts: I) -> Self
    where
        I: IntoIterator<Item = H>,
        H: AsRef<str>,
    {
        Self {
            rule: Rule::Hosts(
                hosts
                    .into_iter()
                    .map(|host| host.as_ref().to_ascii_lowercase().into_boxed_str())
                    .collect(),
            ),
        }
    }

    /// The destinations for which `allows(uri)` is true. A panic in `allows` counts as false.
    pub fn matching<F>(allows: F) -> Self
    where
        F: Fn(&Uri) -> bool + Send + Sync + 'static,
    {
        Self {
            rule: Rule::Matching(Arc::new(allows)),
        }
    }

    /// Whether a call to `uri` may carry the context.
    pub fn allows(&self, uri: &Uri) -> bool {
        match &self.rule {
            Rule::All => true,
            Rule::None => false,
            Rule::Hosts(hosts) => uri.host().is_some_and(|host| {
                hosts.iter().any(|allowed| match allowed.strip_prefix('.') {
                    Some(domain) => ends_with_domain(host, domain),
                    None => host.eq_ignore_ascii_case(allowed),
                })
            }),
            Rule::Matching(allows) => {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| allows(uri)))
                    .unwrap_or(false)
            }
        }
    }
}

/// `host` is a subdomain of `domain` (`a.b.example` under `example`), not `domain` itself and
/// not a look-alike (`notexample`).
fn ends_with_domain(host: &str, domain: &str) -> bool {
    host.len() > domain.len() + 1
        && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
        && host[host.len() - domain.len()..].eq_ignore_ascii_case(domain)
}

impl Default for PropagateTo {
    fn default() -> Self {
        Self::all()
    }
}

impl fmt::Debug for PropagateTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rule {
            Rule::All => f.write_str("PropagateTo::all()"),
            Rule::None => f.write_str("PropagateTo::none()"),
            Rule::Hosts(hosts) => f.debug_tuple("PropagateTo::hosts").field(hosts).finish(),
            Rule::Matching(_) => f.write_str("PropagateTo::matching(..)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn trust_policies() {
        let request = Request::get("/x")
            .header("x-internal-hop", "1")
            .body(())
            .unwrap();
        assert!(TrustPolicy::default().trusts(&request));
        assert!(!TrustPolicy::nobody().trusts(&request));
        assert!(TrustPolicy::nobody().trusts_nobody());
        let hop = TrustPolicy::when(|caller| {
            caller.headers().contains_key("x-internal-hop")
                && caller.method() == Method::GET
                && caller.uri().path() == "/x"
                && caller.version() == Version::HTTP_11
                && caller.extensions().is_empty()
        });
        assert!(hop.trusts(&request));
        assert!(!hop.trusts(&Request::get("/x").body(()).unwrap()));
        let panics = TrustPolicy::when(|_| panic!("predicate failure"));
        assert!(!panics.trusts(&request), "a panic is not trust");
        for (policy, name) in [
            (TrustPolicy::everyone(), "TrustPolicy::everyone()"),
            (TrustPolicy::nobody(), "TrustPolicy::nobody()"),
            (hop, "TrustPolicy::when(..)"),
        ] {
            assert_eq!(format!("{policy:?}"), name);
        }
    }

    #[test]
    fn hosts_and_domains() {
        let policy = PropagateTo::hosts(["Billing", ".svc.cluster.local"]);
        for (target, allowed) in [
            ("http://billing/x", true),
            ("http://BILLING:8080/x", true),
            ("http://billing.evil.com/x", false),
            ("http://a.svc.cluster.local/x", true),
            ("http://a.b.SVC.cluster.local:9000/x", true),
            ("http://svc.cluster.local/x", false),
            ("http://evilsvc.cluster.local/x", false),
            ("http://xsvc.cluster.local/x", false),
            ("/no/host", false),
        ] {
            assert_eq!(policy.allows(&uri(target)), allowed, "{target}");
        }
    }

    #[test]
    fn all_none_and_predicates() {
        let target = uri("https://api.example.com/");
        assert!(PropagateTo::all().allows(&target));
        assert!(PropagateTo::default().allows(&uri("/relative")));
        assert!(!PropagateTo::none().allows(&target));
        let https_only = PropagateTo::matching(|uri| uri.scheme_str() == Some("https"));
        assert!(https_only.allows(&target));
        assert!(!https_only.allows(&uri("http://api.example.com/")));
    }

    #[test]
    fn a_panicking_predicate_denies_and_keeps_working() {
        let policy = PropagateTo::matching(|uri| {
            assert!(uri.host() != Some("boom"), "predicate failure");
            true
        });
        assert!(!policy.allows(&uri("http://boom/")));
        assert!(policy.allows(&uri("http://fine/")));
    }

    #[test]
    fn debug_names_the_rule() {
        assert_eq!(format!("{:?}", PropagateTo::all()), "PropagateTo::all()");
        assert_eq!(format!("{:?}", PropagateTo::none()), "PropagateTo::none()");
        assert!(format!("{:?}", PropagateTo::hosts(["a"])).contains("\"a\""));
        assert_eq!(
            format!("{:?}", PropagateTo::matching(|_| true)),
            "PropagateTo::matching(..)"
        );
    }
}
