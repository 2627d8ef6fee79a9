//! Health and network metrics: components that run but cannot do their job (an exporter whose
//! backend refuses it for a configuration reason, a listener that cannot accept connections),
//! which `/readyz` lists; listener connection counts; circuit-breaker state; and the drop
//! counters a shutdown sums up in one line.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::Labels;

/// A component's failure: which instance reported it (so that a replaced instance cannot
/// clear its successor's state) and why.
type Failures = BTreeMap<String, (u64, String)>;

/// The health and network metric families, shared by every clone of [`super::Telemetry`].
#[derive(Clone, Default)]
pub(super) struct Health {
    failures: Arc<Mutex<Failures>>,
    next_id: Arc<AtomicU64>,
    failed: Family<Labels, Gauge>,
    connections: Family<Labels, Gauge>,
    connections_refused: Family<Labels, Counter>,
    accept_errors: Family<Labels, Counter>,
    breaker_open: Family<Labels, Gauge>,
    breaker_skipped: Family<Labels, Counter>,
    /// Every counter of items dropped at a shutdown deadline, by component and signal.
    shutdown_drops: Arc<Mutex<BTreeMap<(String, String), Counter>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Health {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "component_failed",
            "1 while a component cannot do its job (an exporter its backend refuses for a configuration reason, a listener that cannot accept connections); /readyz says why",
            self.failed.clone(),
        );
        registry.register(
            "listener_connections",
            "Open connections on a listener",
            self.connections.clone(),
        );
        registry.register(
            "listener_connections_closed",
            "Connections a listener closed or refused: max_connections reached, idle, or too slow sending a request",
            self.connections_refused.clone(),
        );
        registry.register(
            "listener_accept_errors",
            "Failed accepts on a listener (e.g. out of file descriptors); the listener backs off",
            self.accept_errors.clone(),
        );
        registry.register(
            "processor_circuit_open",
            "1 while a plugin stage's circuit breaker is open (the plugin is not called)",
            self.breaker_open.clone(),
        );
        registry.register(
            "processor_circuit_skipped_items",
            "Items that went past a plugin stage without being processed while its circuit breaker was open",
            self.breaker_skipped.clone(),
        );
    }

    /// Remembers a shutdown-drop counter for [`Health::shutdown_drops`].
    pub(super) fn track_shutdown_drop(&self, component: String, signal: &str, c: &Counter) {
        lock(&self.shutdown_drops).insert((component, signal.to_string()), c.clone());
    }
}

/// A handle with which one instance of a component reports itself failed or recovered.
/// Dropped, it withdraws what it reported.
pub struct HealthHandle {
    health: Health,
    component: String,
    id: u64,
    gauge: Gauge,
}

impl HealthHandle {
    /// Marks the component failed with `reason`; true if it was not failed before.
    pub fn fail(&self, reason: &str) -> bool {
        self.gauge.set(1);
        let previous = lock(&self.health.failures)
            .insert(self.component.clone(), (self.id, reason.to_string()));
        previous.is_none_or(|(id, _)| id != self.id)
    }

    /// Clears a failure this handle reported; true if there was one.
    pub fn recover(&self) -> bool {
        let mut f = lock(&self.health.failures);
        if f.get(&self.component).is_some_and(|(id, _)| *id == self.id) {
            f.remove(&self.component);
            self.gauge.set(0);
            true
        } else {
            false
        }
    }

    /// True while this handle's failure stands.
    pub fn is_failed(&self) -> bool {
        lock(&self.health.failures)
            .get(&self.component)
            .is_some_and(|(id, _)| *id == self.id)
    }
}

impl Drop for HealthHandle {
    fn drop(&mut self) {
        self.recover();
    }
}

/// The connection metrics of one listener.
#[derive(Clone, Debug)]
pub struct ListenerMetrics {
    /// Open connections.
    pub open: Gauge,
    /// Refused because `max_connections` were open.
    pub refused_full: Counter,
    /// Closed after `idle_timeout` without a request.
    pub closed_idle: Counter,
    /// Closed (or answered 408) because a request's header or body was not received in time.
    pub closed_slow: Counter,
    /// Failed accepts.
    pub accept_errors: Counter,
}

/// A plugin stage's circuit-breaker metrics.
#[derive(Clone, Debug)]
pub struct BreakerMetrics {
    /// 1 while open.
    pub open: Gauge,
    /// Items passed on (or dropped, per `on_error`) without calling the plugin.
    pub skipped: Counter,
}

impl super::Telemetry {
    /// A handle for `component` (`exporter/<name>`, `receiver/<name>/<transport>`) to report
    /// failures that `/readyz` lists.
    pub fn health_handle(&self, component: &str) -> HealthHandle {
        let h = &self.health;
        HealthHandle {
            health: h.clone(),
            component: component.to_string(),
            id: h.next_id.fetch_add(1, Ordering::Relaxed),
            gauge: h
                .failed
                .get_or_create(&vec![("component", component.to_string())])
                .clone(),
        }
    }

    /// The failed components and why, by name.
    pub fn failures(&self) -> Vec<(String, String)> {
        lock(&self.health.failures)
            .iter()
            .map(|(c, (_, why))| (c.clone(), why.clone()))
            .collect()
    }

    /// The connection metrics of `listener` (`receiver/<name>/grpc`, `admin`).
    pub fn listener(&self, listener: &str) -> ListenerMetrics {
        let h = &self.health;
        let labels = vec![("listener", listener.to_string())];
        let closed = |reason: &str| {
            let mut l = labels.clone();
            l.push(("reason", reason.to_string()));
            h.connections_refused.get_or_create(&l).clone()
        };
        ListenerMetrics {
            open: h.connections.get_or_create(&labels).clone(),
            refused_full: closed("max_connections"),
            closed_idle: closed("idle"),
            closed_slow: closed("slow_request"),
            accept_errors: h.accept_errors.get_or_create(&labels).clone(),
        }
    }

    /// The circuit-breaker metrics of processor `processor` in `pipeline` for `signal`.
    pub fn breaker(
        &self,
        processor: &str,
        pipeline: &str,
        signal: crate::Signal,
    ) -> BreakerMetrics {
        let labels = vec![
            ("processor", processor.to_string()),
            ("pipeline", pipeline.to_string()),
            ("signal", signal.as_str().to_string()),
        ];
        BreakerMetrics {
            open: self.health.breaker_open.get_or_create(&labels).clone(),
            skipped: self.health.breaker_skipped.get_or_create(&labels).clone(),
        }
    }

    /// Items dropped at shutdown deadlines so far, by component (`pipeline/<id>`,
    /// `exporter/<name>`) and signal; only non-zero entries.
    pub fn shutdown_drops(&self) -> Vec<(String, String, u64)> {
        lock(&self.health.shutdown_drops)
            .iter()
            .filter(|(_, c)| c.get() > 0)
            .map(|((component, signal), c)| (component.clone(), signal.clone(), c.get()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::telemetry::Telemetry;

    #[test]
    fn a_replaced_instance_cannot_clear_its_successor() {
        let t = Telemetry::new();
        let old = t.health_handle("exporter/x");
        assert!(old.fail("401"));
        assert!(!old.fail("401 again"), "already failed");
        let new = t.health_handle("exporter/x");
        assert!(new.fail("403"));
        drop(old);
        assert_eq!(t.failures(), vec![("exporter/x".into(), "403".into())]);
        assert!(
            t.render()
                .contains("weir_component_failed{component=\"exporter/x\"} 1")
        );
        assert!(new.recover());
        assert!(t.failures().is_empty());
        assert!(
            t.render()
                .contains("weir_component_failed{component=\"exporter/x\"} 0")
        );
    }
}
