//! A sampling policy that misbehaves on purpose, for the sampler's failure tests:
//! `{"mode": "trap" | "loop" | "error" | "write" | "keep"}`.

use weir_plugin::{Batch, Config, Policy, Verdict};

/// The configured misbehaviour.
#[derive(serde::Deserialize)]
struct BadPolicy {
    mode: String,
}

impl Policy for BadPolicy {
    fn init(config: Config) -> Result<Self, String> {
        config.parse()
    }

    fn evaluate(&mut self, trace: &Batch) -> Result<Verdict, String> {
        match self.mode.as_str() {
            "trap" => panic!("policy panicked on purpose"),
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "error" => Err("policy failed on purpose".into()),
            "write" => {
                trace.set_attribute(weir_plugin::Level::Item, "sneaky", "yes");
                Ok(Verdict::keep("wrote"))
            }
            _ => Ok(Verdict::keep("")),
        }
    }
}

weir_plugin::export_policy!(BadPolicy);
