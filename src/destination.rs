//! [`PropagateTo`]: which hosts outbound calls send the request's context to.
//!
//! The correlation ID, the trace context and above all baggage (which may carry user IDs or
//! other personal data) describe the request being handled. Sent to a third-party API they
//! leak that data and let the third party correlate your traffic. The client layers
//! ([`CorrelationClientLayer`](crate::CorrelationClientLayer),
//! `TraceClientLayer`) send them to every host by default, which suits calls inside one
//! trust boundary; restrict them with a policy when a client also calls out.
//!
//! ```
//! use tower_telemetry::destination::PropagateTo;
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

use http::Uri;

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
