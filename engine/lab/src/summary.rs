//! The trade-off in one paragraph of plain language, built from the numbers alone: which
//! policy set keeps the least, which catches the most, at what cost, and which are outdone.

use crate::report::{ConfigReport, Report};

/// Differences smaller than this (a tenth of a percentage point) count as equal.
const EPS: f64 = 0.001;

/// A share or recall for a sentence: `0.031` → `3.1%`; never rounds a miss up to 100% or a
/// keep down to 0%.
pub(crate) fn pct(x: f64) -> String {
    let p = x * 100.0;
    if x < 1.0 && p >= 99.95 {
        ">99.9%".into()
    } else if x > 0.0 && p < 0.05 {
        "<0.1%".into()
    } else if (p - p.round()).abs() < 0.05 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

/// How many times `a` is `b`: `2.5×`, `12×`.
fn times(a: f64, b: f64) -> String {
    let t = a / b;
    if t >= 9.95 {
        format!("{t:.0}×")
    } else {
        format!("{t:.1}×")
    }
}

/// Bytes for a sentence, in the unit the charts use: `0.7 MiB`, `12.3 KiB`, `512 B`.
fn bytes(n: u64) -> String {
    let (unit, size) = crate::chart::byte_unit(n as f64);
    let v = n as f64 / size;
    if unit == "B" || v >= 9.95 {
        format!("{v:.0} {unit}")
    } else {
        format!("{v:.1} {unit}")
    }
}

/// The index of the best of `configs` by `better` (a strict order), the first on ties.
fn best(configs: &[ConfigReport], better: impl Fn(&ConfigReport, &ConfigReport) -> bool) -> usize {
    let mut b = 0;
    for (i, c) in configs.iter().enumerate().skip(1) {
        if better(c, &configs[b]) {
            b = i;
        }
    }
    b
}

/// `a` is at least as good as `b` on cost, error recall and slow recall.
fn no_worse(a: &ConfigReport, b: &ConfigReport) -> bool {
    a.kept_spans_share <= b.kept_spans_share + EPS
        && a.error_recall + EPS >= b.error_recall
        && a.slow_recall + EPS >= b.slow_recall
}

/// `a` and `b` cannot be told apart on cost, error recall and slow recall.
fn same(a: &ConfigReport, b: &ConfigReport) -> bool {
    no_worse(a, b) && no_worse(b, a)
}

/// A policy set's name in a sentence: “errors”.
fn q(name: &str) -> String {
    format!("“{name}”")
}

/// `names` as `a`, `a and b`, `a, b and c`.
fn and_list(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The sets and what the workload holds to catch.
struct Sets<'a> {
    c: &'a [ConfigReport],
    /// The workload has error traces.
    errors: bool,
    /// The workload has slow traces.
    slow: bool,
}

impl Sets<'_> {
    /// What `x` catches, naming only what the workload has.
    fn catches(&self, x: &ConfigReport) -> String {
        match (self.errors, self.slow) {
            (true, true) => format!(
                "catching {} of error traces and {} of slow ones",
                pct(x.error_recall),
                pct(x.slow_recall)
            ),
            (true, false) => format!("catching {} of error traces", pct(x.error_recall)),
            (false, true) => format!("catching {} of slow traces", pct(x.slow_recall)),
            (false, false) => "with no error or slow traces in this workload to catch".into(),
        }
    }

    /// The set that keeps the fewest spans, and those that catch more error or slow traces
    /// with what that costs.
    fn leaders(&self) -> Vec<String> {
        let c = self.c;
        let cheapest = &c[best(c, |a, b| a.kept_spans_share < b.kept_spans_share - EPS)];
        if c.len() == 1 {
            return vec![format!(
                "{} keeps {} of spans ({} of bytes), {}.",
                q(&cheapest.name),
                pct(cheapest.kept_spans_share),
                pct(cheapest.kept_bytes_share),
                self.catches(cheapest)
            )];
        }
        // The most of a recall, the fewest spans among equals; `None` if no better than the
        // cheapest set, or nothing of the kind to catch.
        let top = |has: bool, recall: fn(&ConfigReport) -> f64| {
            let i = best(c, |a, b| {
                recall(a) > recall(b) + EPS
                    || (recall(a) + EPS >= recall(b)
                        && a.kept_spans_share < b.kept_spans_share - EPS)
            });
            (has && recall(&c[i]) > recall(cheapest) + EPS).then_some(i)
        };
        let top_error = top(self.errors, |x| x.error_recall);
        let top_slow = top(self.slow, |x| x.slow_recall);
        let mut first = format!(
            "{} keeps the fewest spans ({}){} {}",
            q(&cheapest.name),
            pct(cheapest.kept_spans_share),
            if self.errors || self.slow {
                " while"
            } else {
                ","
            },
            self.catches(cheapest)
        );
        if (self.errors || self.slow) && top_error.is_none() && top_slow.is_none() {
            first.push_str(", as many as any other set: on this workload it gives up nothing");
        }
        let mut out = vec![format!("{first}.")];
        let cost = |k: &ConfigReport| {
            if cheapest.kept_spans_share > 0.0 {
                format!(
                    "{} the spans ({})",
                    times(k.kept_spans_share, cheapest.kept_spans_share),
                    pct(k.kept_spans_share)
                )
            } else {
                format!("{} of spans", pct(k.kept_spans_share))
            }
        };
        match (top_error, top_slow) {
            (Some(e), Some(s)) if e == s => {
                let t = &c[e];
                out.push(format!(
                    "{} catches the most error ({}) and slow ({}) traces, for {}.",
                    q(&t.name),
                    pct(t.error_recall),
                    pct(t.slow_recall),
                    cost(t)
                ));
            }
            (e, s) => {
                for (i, kind, recall) in [
                    (e, "error", e.map(|i| c[i].error_recall)),
                    (s, "slow", s.map(|i| c[i].slow_recall)),
                ] {
                    if let (Some(i), Some(r)) = (i, recall) {
                        out.push(format!(
                            "{} catches the most {kind} traces ({}), for {}.",
                            q(&c[i].name),
                            pct(r),
                            cost(&c[i])
                        ));
                    }
                }
            }
        }
        out
    }

    /// Groups of sets that cannot be told apart.
    fn twins(&self) -> Vec<String> {
        let c = self.c;
        let mut told = vec![false; c.len()];
        let mut out = Vec::new();
        for i in 0..c.len() {
            let group: Vec<usize> = (i..c.len())
                .filter(|j| !told[*j] && same(&c[i], &c[*j]))
                .collect();
            if told[i] || group.len() < 2 {
                continue;
            }
            let names: Vec<String> = group.iter().map(|j| q(&c[*j].name)).collect();
            group.iter().for_each(|j| told[*j] = true);
            out.push(format!(
                "{} give the same results: they keep as much and catch as many.",
                and_list(&names)
            ));
        }
        out
    }

    /// Up to three sets that another keeps no more spans than and catches at least as much
    /// as, named with the cheapest such other set.
    fn beaten(&self) -> Vec<String> {
        let c = self.c;
        let kinds = match (self.errors, self.slow) {
            (true, true) => "error and slow traces",
            (true, false) => "error traces",
            (false, true) => "slow traces",
            // Every recall is 1 when there is nothing to catch: fewer spans is all it says.
            (false, false) => return Vec::new(),
        };
        c.iter()
            .enumerate()
            .filter_map(|(i, d)| {
                (0..c.len())
                    .filter(|j| *j != i && no_worse(&c[*j], d) && !same(&c[*j], d))
                    .min_by(|a, b| c[*a].kept_spans_share.total_cmp(&c[*b].kept_spans_share))
                    .map(|j| {
                        format!(
                            "{} does better than {}: it keeps no more spans and catches at least as many {kinds}.",
                            q(&c[j].name),
                            q(&d.name)
                        )
                    })
            })
            .take(3)
            .collect()
    }

    /// The set that buffers the least, when peaks differ by half or more.
    fn memory(&self) -> Option<String> {
        let c = self.c;
        let low = &c[best(c, |a, b| a.peak_buffered_bytes < b.peak_buffered_bytes)];
        let high = &c[best(c, |a, b| a.peak_buffered_bytes > b.peak_buffered_bytes)];
        let (lo, hi) = (low.peak_buffered_bytes, high.peak_buffered_bytes);
        (hi > 0 && lo as f64 * 1.5 < hi as f64).then(|| {
            format!(
                "{} buffers the least ({} at its peak, against {} for {}).",
                q(&low.name),
                bytes(lo),
                bytes(hi),
                q(&high.name)
            )
        })
    }

    /// Sets that cut traces (well below the most complete set, or under 90 % outright: late
    /// spans cut a few traces of every set alike) or hit their buffer bounds.
    fn warnings(&self) -> Vec<String> {
        let most_complete = self.c.iter().map(|x| x.complete_share).fold(0.0, f64::max);
        let mut out = Vec::new();
        for x in self.c {
            if x.kept_traces > 0
                && (x.complete_share < 0.9 || x.complete_share < most_complete - 0.05)
            {
                out.push(format!(
                    "{} decided {} of the traces it kept before all their spans had arrived: its decision_wait may be too short for this traffic.",
                    q(&x.name),
                    pct(1.0 - x.complete_share)
                ));
            }
            if x.evicted_early > 0 {
                out.push(format!(
                    "{} hit its buffer bounds and decided {} trace{} early.",
                    q(&x.name),
                    x.evicted_early,
                    if x.evicted_early == 1 { "" } else { "s" }
                ));
            }
        }
        out
    }
}

impl Report {
    /// The trade-off in one paragraph of plain language, from the numbers alone: the set that
    /// keeps the fewest spans and what it catches, the sets that catch the most error and slow
    /// traces and how many times the spans that costs, sets that give identical results, sets
    /// that another beats on every count, the set that buffers the least when memory differs,
    /// and sets that judged traces before they were whole or hit their buffer bounds.
    pub fn summary(&self) -> String {
        if self.configs.is_empty() {
            return "No policy sets were run.".into();
        }
        let sets = Sets {
            c: &self.configs,
            errors: self.workload.error_traces > 0,
            slow: self.workload.slow_traces > 0,
        };
        let mut out = sets.leaders();
        if self.configs.len() > 1 {
            out.extend(sets.twins());
            out.extend(sets.beaten());
            out.extend(sets.memory());
        }
        out.extend(sets.warnings());
        out.join(" ")
    }
}
