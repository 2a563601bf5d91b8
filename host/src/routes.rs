//! The route table, built from the routes the loaded adapters declare.
//!
//! axum's router is fixed at start, but routes come and go with hot reload, so the host matches
//! requests itself against an immutable table that is rebuilt and swapped on every reload.
//! Pattern syntax is the contract's (see `route.path` in the WIT).

use std::sync::Arc;

use crate::adapter_host::LoadedAdapter;
use crate::adapter_host::wit::latest::types::RouteAction;

/// One segment of a path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `{name}` with optional literal text around it inside the same segment.
    Param {
        prefix: String,
        suffix: String,
    },
    /// `{*name}`: the rest of the path (at least one segment).
    Rest,
}

/// A parsed path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    segments: Vec<Segment>,
    literal_chars: usize,
}

impl PathPattern {
    /// Parse a pattern such as `/v1beta/models/{model}:countTokens` or `/v1/{*rest}`.
    pub fn parse(pattern: &str) -> Result<PathPattern, String> {
        let Some(body) = pattern.strip_prefix('/') else {
            return Err("a path pattern must start with /".to_owned());
        };
        let mut segments = Vec::new();
        let mut literal_chars = 0;
        let parts: Vec<&str> = if body.is_empty() {
            Vec::new()
        } else {
            body.split('/').collect()
        };
        for (i, part) in parts.iter().enumerate() {
            if part.is_empty() {
                return Err("empty path segment".to_owned());
            }
            match (part.find('{'), part.rfind('}')) {
                (None, None) => {
                    literal_chars += part.len();
                    segments.push(Segment::Literal((*part).to_owned()));
                }
                (Some(open), Some(close)) if open < close => {
                    let name = &part[open + 1..close];
                    if name.contains('{') || name.contains('}') {
                        return Err(format!("segment {part:?} has more than one parameter"));
                    }
                    if let Some(rest_name) = name.strip_prefix('*') {
                        if rest_name.is_empty() || open != 0 || close != part.len() - 1 {
                            return Err(format!("catch-all {part:?} must be a whole segment"));
                        }
                        if i != parts.len() - 1 {
                            return Err("a catch-all {*name} must be the last segment".to_owned());
                        }
                        segments.push(Segment::Rest);
                    } else {
                        if name.is_empty() {
                            return Err(format!("parameter in {part:?} has no name"));
                        }
                        let prefix = part[..open].to_owned();
                        let suffix = part[close + 1..].to_owned();
                        literal_chars += prefix.len() + suffix.len();
                        segments.push(Segment::Param { prefix, suffix });
                    }
                }
                _ => return Err(format!("unbalanced braces in segment {part:?}")),
            }
        }
        Ok(PathPattern {
            segments,
            literal_chars,
        })
    }

    /// Whether `path` (no query) matches.
    pub fn matches(&self, path: &str) -> bool {
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        let parts: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        let mut parts = parts.into_iter();
        for segment in &self.segments {
            match segment {
                Segment::Rest => return parts.next().is_some(),
                Segment::Literal(literal) => {
                    if parts.next() != Some(literal.as_str()) {
                        return false;
                    }
                }
                Segment::Param { prefix, suffix } => {
                    let Some(part) = parts.next() else {
                        return false;
                    };
                    if part.len() <= prefix.len() + suffix.len()
                        || !part.starts_with(prefix.as_str())
                        || !part.ends_with(suffix.as_str())
                    {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }

    /// How many leading literal segments `path` shares with this pattern (to guess a dialect).
    fn shared_prefix(&self, path: &str) -> usize {
        let parts = path.trim_matches('/').split('/');
        self.segments
            .iter()
            .zip(parts)
            .take_while(|(segment, part)| matches!(segment, Segment::Literal(l) if l == part))
            .count()
    }

    fn has_rest(&self) -> bool {
        self.segments.last() == Some(&Segment::Rest)
    }
}

/// A route with the adapter that serves it.
pub struct CompiledRoute {
    /// Upper-case method.
    pub method: String,
    /// The pattern as declared.
    pub path: String,
    pattern: PathPattern,
    /// Lower-case header name the request must carry.
    pub when_header: Option<String>,
    /// Translate or answer locally.
    pub action: RouteAction,
    /// Who serves it.
    pub adapter: Arc<LoadedAdapter>,
}

impl CompiledRoute {
    fn specificity(&self) -> (bool, usize, bool) {
        (
            self.when_header.is_some(),
            self.pattern.literal_chars,
            !self.pattern.has_rest(),
        )
    }
}

/// The outcome of a lookup.
pub enum Lookup<'a> {
    /// Serve it.
    Found(&'a CompiledRoute),
    /// The path is served, not with this method; render with this adapter.
    MethodNotAllowed(&'a Arc<LoadedAdapter>),
    /// Nothing serves it; the adapter whose routes look closest renders the 404, if any.
    NotFound(Option<&'a Arc<LoadedAdapter>>),
}

/// The immutable route table of one registry generation.
#[derive(Default)]
pub struct RouteTable {
    routes: Vec<CompiledRoute>,
}

impl RouteTable {
    /// Build the table; fails if two adapters claim the same method, path and header.
    pub fn build(adapters: &[Arc<LoadedAdapter>]) -> Result<RouteTable, String> {
        let mut routes: Vec<CompiledRoute> = Vec::new();
        for adapter in adapters {
            for route in &adapter.info.routes {
                let pattern = PathPattern::parse(&route.path)
                    .map_err(|e| format!("{} route {}: {e}", adapter.name, route.path))?;
                let when_header = route.when_header.as_ref().map(|h| h.to_ascii_lowercase());
                if let Some(existing) = routes.iter().find(|r| {
                    r.method == route.method && r.pattern == pattern && r.when_header == when_header
                }) {
                    if existing.adapter.name != adapter.name {
                        return Err(format!(
                            "route {} {} is declared by both {} and {}",
                            route.method, route.path, existing.adapter.name, adapter.name
                        ));
                    }
                    continue;
                }
                routes.push(CompiledRoute {
                    method: route.method.clone(),
                    path: route.path.clone(),
                    pattern,
                    when_header,
                    action: route.action,
                    adapter: Arc::clone(adapter),
                });
            }
        }
        // Most specific first, so the first match wins.
        routes.sort_by_key(|r| std::cmp::Reverse(r.specificity()));
        Ok(RouteTable { routes })
    }

    /// Find the route for a request. `has_header` tells whether the request carries a header.
    pub fn lookup(
        &self,
        method: &str,
        path: &str,
        has_header: impl Fn(&str) -> bool,
    ) -> Lookup<'_> {
        let mut path_match = None;
        for route in &self.routes {
            if !route.pattern.matches(path) {
                continue;
            }
            if let Some(header) = &route.when_header
                && !has_header(header)
            {
                continue;
            }
            if route.method == method {
                return Lookup::Found(route);
            }
            path_match.get_or_insert(route);
        }
        if let Some(route) = path_match {
            return Lookup::MethodNotAllowed(&route.adapter);
        }
        let closest = self
            .routes
            .iter()
            .map(|r| {
                let header_ok = r.when_header.as_deref().is_none_or(&has_header);
                (r.pattern.shared_prefix(path), header_ok, r)
            })
            .filter(|(shared, _, _)| *shared > 0)
            .max_by_key(|(shared, header_ok, r)| (*shared, *header_ok, r.when_header.is_some()))
            .map(|(_, _, r)| &r.adapter);
        Lookup::NotFound(closest)
    }

    /// Every route, most specific first.
    pub fn routes(&self) -> &[CompiledRoute] {
        &self.routes
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn patterns() {
        let p = PathPattern::parse("/v1beta/models/{model}:countTokens").unwrap();
        assert!(p.matches("/v1beta/models/gemini-2.5-flash:countTokens"));
        assert!(!p.matches("/v1beta/models/:countTokens"));
        assert!(!p.matches("/v1beta/models/gemini:generateContent"));
        let rest = PathPattern::parse("/v1beta/models/{*rest}").unwrap();
        assert!(rest.matches("/v1beta/models/a/b"));
        assert!(!rest.matches("/v1beta/models"));
        let lit = PathPattern::parse("/v1internal:generateContent").unwrap();
        assert!(lit.matches("/v1internal:generateContent"));
        let root = PathPattern::parse("/").unwrap();
        assert!(root.matches("/"));
        assert!(!root.matches("/x"));
        assert!(PathPattern::parse("/v1/models/").is_err());
        assert!(PathPattern::parse("/{*a}/b").is_err());
        assert!(PathPattern::parse("/{a}{b}").is_err());
        assert!(PathPattern::parse("v1").is_err());
        assert!(
            PathPattern::parse("/v1/models")
                .unwrap()
                .matches("/v1/models/")
        );
    }
}
