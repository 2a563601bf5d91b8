//! Model routing and upstream health: which `{upstream, backend model}` targets a request may
//! go to, in which order, and which upstreams are out for now.
//!
//! The requested model name is matched against the `[[models]]` rules (first match wins, exact
//! names or `*` globs); with no match, the `[defaults]` entry of the client's dialect is routed
//! the same way (an alias, or else a backend model on `default_upstream`); then
//! `default_model`; then the requested name passes through unchanged to `default_upstream`.
//!
//! A rule's targets share its traffic by weight (a deterministic weighted round robin, so 3:1
//! means exactly three of every four requests), and the remaining targets are the failover
//! order. Passive health: consecutive failures eject an upstream for `failover.eject_ms`;
//! a 429 keeps it out for its `Retry-After` (capped). While out, an upstream gets no request
//! that any other target can take; when none can (a single-target route, or every target out),
//! the ones out are still tried, soonest back first — better a likely failure than a certain
//! one, and a gateway in front of one backend does not turn one 429 into seconds of refusals
//! for every user (the client that got the 429 got its `Retry-After` too).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::adapter_host::wit::latest::types::ModelEntry;
use crate::config::{Config, DEFAULT_UPSTREAM, Failover, ModelRule, glob_matches};
use crate::error::UpstreamVerdict;
use crate::pivot::RoutedModel;
use crate::upstream::Upstream;

/// Label used for models that are not configured (bounded metric cardinality).
pub const OTHER_MODEL: &str = "other";

/// One upstream and its passive health.
#[derive(Debug)]
pub struct UpstreamSlot {
    /// The client.
    pub upstream: Upstream,
    health: Mutex<Health>,
}

#[derive(Debug, Default)]
struct Health {
    consecutive_failures: u32,
    ejected_until: Option<Instant>,
    rate_limited_until: Option<Instant>,
}

/// Whether an upstream takes traffic now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Healthy (or its ejection is over).
    Available,
    /// Ejected after failures until then.
    Ejected(Instant),
    /// Rate limited until then.
    RateLimited(Instant),
}

/// What a recorded outcome changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HealthChange {
    /// The upstream was just ejected.
    pub ejected: bool,
    /// The upstream was ejected and is back after a success.
    pub recovered: bool,
}

impl UpstreamSlot {
    fn new(upstream: Upstream) -> Self {
        UpstreamSlot {
            upstream,
            health: Mutex::new(Health::default()),
        }
    }

    /// The upstream's name.
    pub fn name(&self) -> &str {
        self.upstream.name()
    }

    /// Whether it takes traffic at `now`.
    pub fn availability(&self, now: Instant) -> Availability {
        let Ok(health) = self.health.lock() else {
            return Availability::Available;
        };
        if let Some(until) = health.rate_limited_until.filter(|u| *u > now) {
            return Availability::RateLimited(until);
        }
        if let Some(until) = health.ejected_until.filter(|u| *u > now) {
            return Availability::Ejected(until);
        }
        Availability::Available
    }

    /// A request got an answer (any status the upstream is not blamed for).
    pub fn record_success(&self) -> HealthChange {
        let Ok(mut health) = self.health.lock() else {
            return HealthChange::default();
        };
        let recovered = health.ejected_until.is_some();
        *health = Health::default();
        HealthChange {
            ejected: false,
            recovered,
        }
    }

    /// A request failed with `verdict`; `retry_after` is the upstream's `Retry-After`.
    pub fn record_failure(
        &self,
        verdict: UpstreamVerdict,
        retry_after: Option<u32>,
        policy: &Failover,
    ) -> HealthChange {
        if verdict == UpstreamVerdict::Fine {
            // It answered (a 4xx about the request): alive and well.
            return self.record_success();
        }
        let Ok(mut health) = self.health.lock() else {
            return HealthChange::default();
        };
        let now = Instant::now();
        match verdict {
            UpstreamVerdict::Fine => HealthChange::default(),
            UpstreamVerdict::RateLimited => {
                let wait = retry_after
                    .map(|s| u64::from(s).saturating_mul(1000))
                    .unwrap_or(policy.rate_limited_ms)
                    .min(policy.max_retry_after_ms);
                health.rate_limited_until = Some(now + Duration::from_millis(wait));
                HealthChange::default()
            }
            UpstreamVerdict::Failover | UpstreamVerdict::Unhealthy => {
                health.consecutive_failures = health.consecutive_failures.saturating_add(1);
                if health.consecutive_failures >= policy.eject_after_failures {
                    let was_out = health.ejected_until.is_some_and(|u| u > now);
                    health.ejected_until = Some(now + Duration::from_millis(policy.eject_ms));
                    HealthChange {
                        ejected: !was_out,
                        recovered: false,
                    }
                } else {
                    HealthChange::default()
                }
            }
        }
    }
}

/// One place a request may go.
#[derive(Debug, Clone)]
pub struct Target {
    /// The upstream.
    pub slot: Arc<UpstreamSlot>,
    /// Backend model and what it takes.
    pub routed: RoutedModel,
    weight: u32,
    context_window: Option<u32>,
}

#[derive(Debug)]
struct CompiledRule {
    pattern: String,
    targets: Vec<Target>,
    /// Weighted round-robin position.
    next: AtomicU64,
}

/// The attempts for one request, best first.
#[derive(Debug)]
pub struct Plan {
    /// Targets to try in order (at most `failover.max_attempts`, at least one).
    pub attempts: Vec<Target>,
    /// The rule pattern that matched (`None`: a default applied).
    pub rule: Option<String>,
}

/// Routing rules, upstreams and their health.
#[derive(Debug)]
pub struct Router {
    upstreams: BTreeMap<String, Arc<UpstreamSlot>>,
    rules: Vec<CompiledRule>,
    defaults: BTreeMap<String, String>,
    default_model: Option<String>,
    default_upstream: Arc<UpstreamSlot>,
    policy: Failover,
    configured_models: BTreeSet<String>,
    model_entries: Vec<ModelEntry>,
}

impl Router {
    /// Build every upstream (resolving credentials) and compile the rules.
    pub fn from_config(config: &Config) -> anyhow::Result<Router> {
        let mut upstreams = BTreeMap::new();
        upstreams.insert(
            DEFAULT_UPSTREAM.to_owned(),
            Arc::new(UpstreamSlot::new(Upstream::from_config(config)?)),
        );
        for (name, upstream) in &config.upstreams {
            upstreams.insert(
                name.clone(),
                Arc::new(UpstreamSlot::new(Upstream::new(
                    name,
                    upstream,
                    &config.limits,
                )?)),
            );
        }
        let slot = |name: Option<&String>| -> anyhow::Result<Arc<UpstreamSlot>> {
            let name = name.unwrap_or(&config.default_upstream);
            upstreams
                .get(name)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("unknown upstream {name:?}"))
        };
        let default_upstream = slot(None)?;
        let mut rules = Vec::new();
        let mut configured_models = BTreeSet::new();
        for rule in &config.models {
            let targets = compile_targets(rule, &slot)?;
            configured_models.extend(targets.iter().map(|t| t.routed.backend_model.clone()));
            rules.push(CompiledRule {
                pattern: rule.pattern.clone(),
                targets,
                next: AtomicU64::new(0),
            });
        }
        let default_model = config.default_model.clone().filter(|m| !m.is_empty());
        configured_models.extend(default_model.clone());
        for alias in config.defaults.values() {
            if !config
                .models
                .iter()
                .any(|r| glob_matches(&r.pattern, alias))
            {
                configured_models.insert(alias.clone());
            }
        }
        let mut router = Router {
            upstreams,
            rules,
            defaults: config.defaults.clone(),
            default_model,
            default_upstream,
            policy: config.failover.clone(),
            configured_models,
            model_entries: Vec::new(),
        };
        router.model_entries = router.build_model_entries();
        Ok(router)
    }

    /// Every upstream, by name.
    pub fn upstreams(&self) -> impl Iterator<Item = &Arc<UpstreamSlot>> {
        self.upstreams.values()
    }

    /// The failover policy.
    pub fn policy(&self) -> &Failover {
        &self.policy
    }

    /// `model` if it is a configured backend model, else [`OTHER_MODEL`] (metric labels).
    pub fn model_label<'a>(&self, model: &'a str) -> &'a str {
        if self.configured_models.contains(model) {
            model
        } else {
            OTHER_MODEL
        }
    }

    /// The models offered to clients in model lists.
    pub fn model_entries(&self) -> Vec<ModelEntry> {
        self.model_entries.clone()
    }

    /// The targets for `requested` from a client of `dialect`, in the order to try them.
    pub fn plan(&self, requested: &str, dialect: &str) -> Plan {
        let (attempts, rule) = match self.matching_rule(requested, dialect) {
            Some(rule) => (
                order(&rule.targets, Some(&rule.next), &self.policy),
                Some(rule.pattern.clone()),
            ),
            None => {
                let model = self.fallback_model(requested, dialect);
                let target = Target {
                    slot: Arc::clone(&self.default_upstream),
                    routed: RoutedModel {
                        backend_model: model,
                        max_output_tokens: None,
                        vision: true,
                        reasoning: true,
                    },
                    weight: 1,
                    context_window: None,
                };
                (
                    order(std::slice::from_ref(&target), None, &self.policy),
                    None,
                )
            }
        };
        Plan { attempts, rule }
    }

    /// The rule for `requested`, else the rule for the dialect's default alias.
    fn matching_rule(&self, requested: &str, dialect: &str) -> Option<&CompiledRule> {
        self.rule_for(requested).or_else(|| {
            self.defaults
                .get(dialect)
                .and_then(|alias| self.rule_for(alias))
        })
    }

    fn rule_for(&self, name: &str) -> Option<&CompiledRule> {
        self.rules.iter().find(|r| glob_matches(&r.pattern, name))
    }

    /// No rule matched: the dialect default, `default_model`, or the requested name.
    fn fallback_model(&self, requested: &str, dialect: &str) -> String {
        self.defaults
            .get(dialect)
            .or(self.default_model.as_ref())
            .cloned()
            .unwrap_or_else(|| requested.to_owned())
    }

    /// Exact rule names (clients may ask for them) and every backend model.
    fn build_model_entries(&self) -> Vec<ModelEntry> {
        let mut entries: Vec<ModelEntry> = Vec::new();
        for rule in &self.rules {
            if rule.pattern.contains('*') {
                continue;
            }
            let first = rule.targets.first();
            entries.push(ModelEntry {
                id: rule.pattern.clone(),
                owned_by: first
                    .map(|t| t.slot.name().to_owned())
                    .unwrap_or_else(|| "cligate".to_owned()),
                context_window: first.and_then(|t| t.routed_context_window()),
                max_output_tokens: first
                    .and_then(|t| t.routed.max_output_tokens)
                    .and_then(|t| u32::try_from(t).ok()),
            });
        }
        let backends = self
            .rules
            .iter()
            .flat_map(|r| r.targets.iter())
            .map(|t| (t.routed.backend_model.clone(), t.slot.name().to_owned()))
            .chain(
                self.default_model
                    .iter()
                    .chain(self.defaults.values())
                    .map(|m| (m.clone(), self.default_upstream.name().to_owned())),
            );
        for (backend, upstream) in backends {
            if !entries.iter().any(|e| e.id == backend) {
                entries.push(ModelEntry {
                    id: backend,
                    owned_by: upstream,
                    context_window: None,
                    max_output_tokens: None,
                });
            }
        }
        entries
    }
}

impl Target {
    fn routed_context_window(&self) -> Option<u32> {
        self.context_window
    }
}

fn compile_targets(
    rule: &ModelRule,
    slot: &impl Fn(Option<&String>) -> anyhow::Result<Arc<UpstreamSlot>>,
) -> anyhow::Result<Vec<Target>> {
    let routed = |model: &str, cap: Option<u64>, vision: Option<bool>, reasoning: Option<bool>| {
        RoutedModel {
            backend_model: model.to_owned(),
            max_output_tokens: cap.or(rule.max_output_tokens),
            vision: vision.unwrap_or(rule.vision),
            reasoning: reasoning.unwrap_or(rule.reasoning),
        }
    };
    if let Some(model) = &rule.backend_model {
        return Ok(vec![Target {
            slot: slot(rule.upstream.as_ref())?,
            routed: routed(model, None, None, None),
            weight: 1,
            context_window: rule.context_window,
        }]);
    }
    rule.targets
        .iter()
        .map(|t| {
            Ok(Target {
                slot: slot(t.upstream.as_ref())?,
                routed: routed(&t.model, t.max_output_tokens, t.vision, t.reasoning),
                weight: t.weight,
                context_window: t.context_window.or(rule.context_window),
            })
        })
        .collect()
}

/// Available targets (the weighted pick first, then the others in configured order), then
/// those out (ejected or rate limited), soonest back first.
fn order(targets: &[Target], counter: Option<&AtomicU64>, policy: &Failover) -> Vec<Target> {
    let now = Instant::now();
    let mut available: Vec<&Target> = Vec::new();
    let mut out: Vec<(Instant, &Target)> = Vec::new();
    for target in targets {
        match target.slot.availability(now) {
            Availability::Available => available.push(target),
            Availability::Ejected(until) | Availability::RateLimited(until) => {
                out.push((until, target));
            }
        }
    }
    if let Some(counter) = counter
        && let Some(first) = weighted_pick(&available, counter)
    {
        let chosen = available.remove(first);
        available.insert(0, chosen);
    }
    out.sort_by_key(|(until, _)| *until);
    available
        .into_iter()
        .chain(out.into_iter().map(|(_, t)| t))
        .take(policy.max_attempts.max(1) as usize)
        .cloned()
        .collect()
}

/// Index into `available` of the next weighted round-robin choice.
fn weighted_pick(available: &[&Target], counter: &AtomicU64) -> Option<usize> {
    let total: u64 = available.iter().map(|t| u64::from(t.weight)).sum();
    if total == 0 {
        return None;
    }
    let mut position = counter.fetch_add(1, Ordering::Relaxed) % total;
    for (i, target) in available.iter().enumerate() {
        let weight = u64::from(target.weight);
        if position < weight {
            return Some(i);
        }
        position -= weight;
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::{TargetConfig, UpstreamConfig};

    fn config() -> Config {
        let mut config = Config::default();
        for name in ["a", "b"] {
            config.upstreams.insert(
                name.into(),
                UpstreamConfig {
                    url: format!("http://{name}.invalid/v1"),
                    api_key: None,
                    api_key_header: None,
                    connect_timeout_ms: None,
                    first_byte_timeout_ms: None,
                    idle_timeout_ms: None,
                },
            );
        }
        config.models.push(ModelRule {
            pattern: "claude-*haiku*".into(),
            backend_model: None,
            upstream: None,
            targets: vec![
                TargetConfig {
                    upstream: Some("a".into()),
                    model: "qwen".into(),
                    weight: 3,
                    max_output_tokens: Some(100),
                    context_window: None,
                    vision: None,
                    reasoning: Some(false),
                },
                TargetConfig {
                    upstream: Some("b".into()),
                    model: "qwen2.5".into(),
                    weight: 1,
                    max_output_tokens: None,
                    context_window: None,
                    vision: None,
                    reasoning: None,
                },
            ],
            max_output_tokens: Some(200),
            context_window: Some(1000),
            vision: false,
            reasoning: true,
        });
        config.models.push(ModelRule {
            pattern: "gpt-*".into(),
            backend_model: Some("big".into()),
            upstream: Some("b".into()),
            targets: Vec::new(),
            max_output_tokens: None,
            context_window: None,
            vision: true,
            reasoning: true,
        });
        config
    }

    fn names(plan: &Plan) -> Vec<(String, String)> {
        plan.attempts
            .iter()
            .map(|t| (t.slot.name().to_owned(), t.routed.backend_model.clone()))
            .collect()
    }

    #[test]
    fn rules_then_dialect_default_then_default_model_then_passthrough() {
        let mut config = config();
        config
            .defaults
            .insert("anthropic-messages".into(), "claude-3-haiku".into());
        config.defaults.insert("gemini".into(), "gemma".into());
        let router = Router::from_config(&config).unwrap();
        let plan = router.plan("gpt-5", "openai-chat");
        assert_eq!(names(&plan), [("b".into(), "big".into())]);
        assert_eq!(plan.rule.as_deref(), Some("gpt-*"));
        // The anthropic default is an alias routed through the haiku rule.
        let plan = router.plan("claude-opus-4", "anthropic-messages");
        assert_eq!(plan.attempts.len(), 2);
        assert_eq!(plan.rule.as_deref(), Some("claude-*haiku*"));
        // The gemini default matches no rule: a backend model on the default upstream.
        let plan = router.plan("gemini-2.5-pro", "gemini");
        assert_eq!(names(&plan), [("default".into(), "gemma".into())]);
        assert_eq!(
            names(&router.plan("x", "openai-chat")),
            [("default".into(), "x".into())]
        );
        config.default_model = Some("fallback".into());
        let router = Router::from_config(&config).unwrap();
        assert_eq!(
            names(&router.plan("x", "openai-chat")),
            [("default".into(), "fallback".into())]
        );
        assert_eq!(router.model_label("fallback"), "fallback");
        assert_eq!(router.model_label("x"), OTHER_MODEL);
        assert_eq!(router.model_label("qwen2.5"), "qwen2.5");
    }

    #[test]
    fn weights_spread_and_capabilities_fall_back_to_the_rule() {
        let router = Router::from_config(&config()).unwrap();
        let mut firsts = Vec::new();
        for _ in 0..8 {
            let plan = router.plan("claude-3-5-haiku", "anthropic-messages");
            assert_eq!(plan.attempts.len(), 2, "the other target is the failover");
            firsts.push(plan.attempts[0].slot.name().to_owned());
        }
        assert_eq!(firsts.iter().filter(|n| *n == "a").count(), 6);
        let plan = router.plan("claude-3-5-haiku", "anthropic-messages");
        let a = plan.attempts.iter().find(|t| t.slot.name() == "a").unwrap();
        let b = plan.attempts.iter().find(|t| t.slot.name() == "b").unwrap();
        assert_eq!(
            (a.routed.max_output_tokens, a.routed.reasoning),
            (Some(100), false)
        );
        assert_eq!(
            (b.routed.max_output_tokens, b.routed.vision),
            (Some(200), false)
        );
    }

    #[test]
    fn ejection_rate_limits_and_recovery() {
        let mut config = config();
        config.failover.eject_after_failures = 2;
        config.failover.eject_ms = 40;
        let router = Router::from_config(&config).unwrap();
        let policy = router.policy().clone();
        let a = router.upstreams.get("a").unwrap();
        let b = router.upstreams.get("b").unwrap();
        assert!(
            !a.record_failure(UpstreamVerdict::Failover, None, &policy)
                .ejected
        );
        assert!(
            a.record_failure(UpstreamVerdict::Failover, None, &policy)
                .ejected
        );
        for _ in 0..4 {
            let plan = router.plan("claude-haiku", "x");
            assert_eq!(
                plan.attempts[0].slot.name(),
                "b",
                "ejected upstreams go last"
            );
            assert_eq!(plan.attempts[1].slot.name(), "a");
        }
        b.record_failure(UpstreamVerdict::RateLimited, Some(60), &policy);
        // Both out: a is back sooner than b, so a goes first.
        let plan = router.plan("claude-haiku", "x");
        assert_eq!(plan.attempts[0].slot.name(), "a");
        assert_eq!(plan.attempts[1].slot.name(), "b");
        // b alone: still tried rather than refused.
        assert_eq!(
            names(&router.plan("gpt-5", "x")),
            [("b".into(), "big".into())]
        );
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(a.availability(Instant::now()), Availability::Available);
        assert!(a.record_success().recovered);
        // A 4xx answer counts as alive: it resets the failure count.
        a.record_failure(UpstreamVerdict::Failover, None, &policy);
        a.record_failure(UpstreamVerdict::Fine, None, &policy);
        assert!(
            !a.record_failure(UpstreamVerdict::Failover, None, &policy)
                .ejected
        );
        assert!(
            !a.record_failure(UpstreamVerdict::Fine, None, &policy)
                .ejected
        );
        // Retry-After is capped.
        b.record_failure(UpstreamVerdict::RateLimited, Some(86_400), &policy);
        let cap = Instant::now() + Duration::from_millis(policy.max_retry_after_ms);
        assert!(
            matches!(b.availability(Instant::now()), Availability::RateLimited(until) if until <= cap)
        );
    }

    #[test]
    fn model_entries_list_exact_names_and_backends() {
        let mut config = config();
        config.models.push(ModelRule {
            pattern: "exact".into(),
            backend_model: Some("qwen".into()),
            upstream: Some("a".into()),
            targets: Vec::new(),
            max_output_tokens: Some(10),
            context_window: Some(20),
            vision: true,
            reasoning: true,
        });
        let router = Router::from_config(&config).unwrap();
        let entries = router.model_entries();
        let exact = entries.iter().find(|e| e.id == "exact").unwrap();
        assert_eq!(
            (
                exact.owned_by.as_str(),
                exact.context_window,
                exact.max_output_tokens
            ),
            ("a", Some(20), Some(10))
        );
        for id in ["qwen", "qwen2.5", "big"] {
            assert!(entries.iter().any(|e| e.id == id), "{id} missing");
        }
        assert!(!entries.iter().any(|e| e.id.contains('*')));
    }
}
