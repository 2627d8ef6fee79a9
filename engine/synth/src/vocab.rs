//! The shop Weir's synthetic telemetry describes: services, what each one serves, whom it calls,
//! and the semantic-convention attributes each kind of operation carries.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};

use crate::Rng;

/// What an operation does, which decides its span kind and attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An HTTP route served (span kind SERVER).
    Http,
    /// A gRPC method served (SERVER).
    Rpc,
    /// A SQL query (CLIENT).
    Sql,
    /// A cache command (CLIENT).
    Cache,
    /// A message published (PRODUCER).
    Publish,
    /// In-process work (INTERNAL).
    Internal,
}

/// One operation a service performs.
#[derive(Debug)]
pub(crate) struct Operation {
    /// Span name.
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    /// Median latency of its own work, in ms.
    pub(crate) median_ms: f64,
    /// Indices into [`SERVICES`] of the services it calls (each through its first operation
    /// of a served kind), plus its own follow-up operations by index into its service.
    pub(crate) calls: &'static [Call],
}

/// A call from an operation: to another service's operation, or to one of its own.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) service: usize,
    pub(crate) operation: usize,
    /// Chance the call happens in a given trace.
    pub(crate) probability: f64,
}

/// One service: its resource identity and operations.
#[derive(Debug)]
pub(crate) struct Service {
    pub(crate) name: &'static str,
    pub(crate) language: &'static str,
    pub(crate) version: &'static str,
    pub(crate) operations: &'static [Operation],
}

const fn call(service: usize, operation: usize, probability: f64) -> Call {
    Call {
        service,
        operation,
        probability,
    }
}

/// The shop. Entry points are the first operations of `frontend`.
pub(crate) static SERVICES: &[Service] = &[
    Service {
        name: "frontend",
        language: "nodejs",
        version: "2.14.1",
        operations: &[
            Operation {
                name: "GET /api/cart",
                kind: Kind::Http,
                median_ms: 4.0,
                calls: &[call(1, 0, 1.0), call(0, 3, 0.5)],
            },
            Operation {
                name: "POST /api/checkout",
                kind: Kind::Http,
                median_ms: 8.0,
                calls: &[call(1, 0, 1.0), call(2, 0, 1.0), call(4, 0, 0.9)],
            },
            Operation {
                name: "GET /api/products/{id}",
                kind: Kind::Http,
                median_ms: 3.0,
                calls: &[call(3, 0, 1.0), call(0, 3, 0.3)],
            },
            Operation {
                name: "render",
                kind: Kind::Internal,
                median_ms: 1.5,
                calls: &[],
            },
        ],
    },
    Service {
        name: "cart",
        language: "go",
        version: "1.8.0",
        operations: &[
            Operation {
                name: "cart.v1.CartService/GetCart",
                kind: Kind::Rpc,
                median_ms: 1.2,
                calls: &[call(1, 1, 1.0)],
            },
            Operation {
                name: "HGETALL",
                kind: Kind::Cache,
                median_ms: 0.3,
                calls: &[],
            },
        ],
    },
    Service {
        name: "payment",
        language: "java",
        version: "5.2.3",
        operations: &[
            Operation {
                name: "payment.v1.PaymentService/Charge",
                kind: Kind::Rpc,
                median_ms: 25.0,
                calls: &[call(2, 1, 1.0), call(2, 2, 1.0)],
            },
            Operation {
                name: "SELECT payment.accounts",
                kind: Kind::Sql,
                median_ms: 2.0,
                calls: &[],
            },
            Operation {
                name: "INSERT payment.charges",
                kind: Kind::Sql,
                median_ms: 3.0,
                calls: &[],
            },
        ],
    },
    Service {
        name: "catalog",
        language: "python",
        version: "0.31.0",
        operations: &[
            Operation {
                name: "GET /products/{id}",
                kind: Kind::Http,
                median_ms: 2.5,
                calls: &[call(3, 1, 1.0), call(1, 1, 0.4)],
            },
            Operation {
                name: "SELECT catalog.products",
                kind: Kind::Sql,
                median_ms: 1.8,
                calls: &[],
            },
        ],
    },
    Service {
        name: "orders",
        language: "rust",
        version: "3.0.0",
        operations: &[
            Operation {
                name: "POST /orders",
                kind: Kind::Http,
                median_ms: 5.0,
                calls: &[call(4, 1, 1.0), call(4, 2, 0.95)],
            },
            Operation {
                name: "INSERT orders.orders",
                kind: Kind::Sql,
                median_ms: 2.2,
                calls: &[],
            },
            Operation {
                name: "order-placed publish",
                kind: Kind::Publish,
                median_ms: 0.8,
                calls: &[],
            },
        ],
    },
];

/// A string attribute.
pub(crate) fn text(key: &str, value: impl Into<String>) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

/// An integer attribute.
pub(crate) fn int(key: &str, value: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(value))
}

/// An attribute of any value.
pub(crate) fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// The `service.*`, `telemetry.sdk.*`, host and Kubernetes attributes of a service's resource;
/// `instance` tells replicas apart.
pub(crate) fn resource(service: &Service, instance: usize) -> Vec<KeyValue> {
    resource_of(
        service.name,
        Some((service.language, service.version)),
        instance,
    )
}

/// [`resource`] for any service name; `sdk` is its SDK language and the service's version, when
/// known (`telemetry.sdk.language` and `service.version` are left out otherwise).
pub(crate) fn resource_of(name: &str, sdk: Option<(&str, &str)>, instance: usize) -> Vec<KeyValue> {
    let mut attrs = vec![
        text("service.name", name),
        text("service.namespace", "shop"),
        text("service.instance.id", format!("{name}-{instance:04x}")),
        text("deployment.environment.name", "production"),
        text("telemetry.sdk.name", "opentelemetry"),
        text("telemetry.sdk.version", "1.38.0"),
        text(
            "host.name",
            format!("node-{}.eu-west-1.compute.internal", 10 + instance % 7),
        ),
        text("k8s.pod.name", format!("{name}-7d9f8b{instance:x}-x2k4q")),
        int("process.pid", 1 + instance as i64),
    ];
    if let Some((language, version)) = sdk {
        attrs.insert(2, text("service.version", version));
        attrs.insert(6, text("telemetry.sdk.language", language));
    }
    attrs
}

/// A user agent, as browsers and SDKs send them.
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
];

/// The semantic-convention attributes of operation `op` of `service` (status code 500 when
/// `error`).
pub(crate) fn span_attributes(
    rng: &mut Rng,
    service: &Service,
    op: &Operation,
    error: bool,
) -> Vec<KeyValue> {
    match op.kind {
        Kind::Http => {
            let (method, route) = op.name.split_once(' ').unwrap_or(("GET", op.name));
            let id = 1000 + rng.below(9000);
            let status = if error {
                500
            } else {
                *rng.pick(&[200, 200, 200, 201, 304, 404])
            };
            vec![
                text("http.request.method", method),
                text("http.route", route),
                text("url.path", route.replace("{id}", &id.to_string())),
                text("url.scheme", "https"),
                text("server.address", format!("{}.shop.internal", service.name)),
                int("server.port", 8080),
                int("http.response.status_code", status),
                text("user_agent.original", *rng.pick(AGENTS)),
                text(
                    "client.address",
                    format!("10.0.{}.{}", rng.below(16), 1 + rng.below(254)),
                ),
            ]
        }
        Kind::Rpc => {
            let (rpc_service, method) = op.name.split_once('/').unwrap_or((op.name, ""));
            vec![
                text("rpc.system", "grpc"),
                text("rpc.service", rpc_service),
                text("rpc.method", method),
                int("rpc.grpc.status_code", if error { 13 } else { 0 }),
                text("server.address", format!("{}.shop.internal", service.name)),
                int("server.port", 50051),
            ]
        }
        Kind::Sql => {
            let table = op.name.split_once(' ').map_or(op.name, |(_, t)| t);
            let query = if op.name.starts_with("SELECT") {
                format!("SELECT id, status, total FROM {table} WHERE id = $1")
            } else {
                format!("INSERT INTO {table} (id, total, created_at) VALUES ($1, $2, now())")
            };
            vec![
                text("db.system.name", "postgresql"),
                text("db.namespace", service.name),
                text("db.collection.name", table),
                text("db.query.text", query),
                text("server.address", "pg-primary.shop.internal"),
                int("server.port", 5432),
            ]
        }
        Kind::Cache => vec![
            text("db.system.name", "redis"),
            text("db.operation.name", op.name),
            text(
                "db.query.text",
                format!("{} cart:{}", op.name, rng.next() % 100_000),
            ),
            text("server.address", "redis.shop.internal"),
            int("server.port", 6379),
        ],
        Kind::Publish => vec![
            text("messaging.system", "kafka"),
            text("messaging.operation.type", "send"),
            text("messaging.destination.name", "orders.placed"),
            int(
                "messaging.kafka.message.offset",
                (rng.next() % 1_000_000) as i64,
            ),
            text("server.address", "kafka.shop.internal"),
        ],
        Kind::Internal => vec![
            text(
                "code.function.name",
                format!("{}::{}", service.name, op.name),
            ),
            text("code.file.path", format!("src/{}.rs", op.name)),
        ],
    }
}
