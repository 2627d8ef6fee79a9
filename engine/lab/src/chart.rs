//! Axis scales and mark placement for the report's SVG charts: round ticks, a kept-share axis
//! that is zoomed to the data or logarithmic, and marks set side by side where they would cover
//! each other.

/// Shares spanning more than this factor get a log axis: on a linear one the smaller would
/// crowd into the left eighth.
pub(crate) const LOG_RATIO: f64 = 8.0;

/// How values map onto an axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scale {
    /// From 0 to `max`, evenly, with ticks every `step`.
    Linear {
        /// The value at the far end.
        max: f64,
        /// The distance between ticks.
        step: f64,
    },
    /// From `lo` to `hi` (both above 0, powers of ten), by orders of magnitude.
    Log {
        /// The value at the near end.
        lo: f64,
        /// The value at the far end.
        hi: f64,
    },
}

/// The smallest of 1, 2, 2.5 and 5 times a power of ten that is at least `x` (> 0).
pub(crate) fn nice_step(x: f64) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|v| *v >= x * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

impl Scale {
    /// A linear axis from 0 that ends on a round tick at or above `max × headroom`, with four
    /// to six ticks.
    pub(crate) fn linear(max: f64, headroom: f64) -> Scale {
        let top = if max.is_finite() && max > 0.0 {
            max * headroom
        } else {
            1.0
        };
        let step = nice_step(top / 5.0);
        Scale::Linear {
            max: (top / step - 1e-9).ceil().max(1.0) * step,
            step,
        }
    }

    /// A linear axis from 0 to exactly `max` (time: no empty stretch at the end), with round
    /// ticks inside it.
    pub(crate) fn linear_exact(max: f64) -> Scale {
        let max = if max.is_finite() && max > 0.0 {
            max
        } else {
            1.0
        };
        Scale::Linear {
            max,
            step: nice_step(max / 5.0),
        }
    }

    /// The kept-share axis for these shares (each in [0, 1]): logarithmic when the positive
    /// ones span more than [`LOG_RATIO`], else linear from 0 to a round value a tenth above the
    /// largest, at most 1.
    pub(crate) fn for_shares(shares: &[f64]) -> Scale {
        let positive = || shares.iter().copied().filter(|x| x.is_finite() && *x > 0.0);
        let max = positive().fold(0.0, f64::max).min(1.0);
        let min = positive().fold(f64::INFINITY, f64::min);
        if max <= 0.0 {
            return Scale::linear(0.01, 1.0);
        }
        if max / min > LOG_RATIO {
            let lo = 10f64.powf((min.log10() + 1e-9).floor());
            let hi = 10f64
                .powf((max.log10() - 1e-9).ceil())
                .min(1.0)
                .max(lo * 10.0);
            return Scale::Log { lo, hi };
        }
        match Scale::linear(max, 1.1) {
            Scale::Linear { max, .. } if max > 1.0 => Scale::Linear {
                max: 1.0,
                step: 0.2,
            },
            s => s,
        }
    }

    /// Where `v` falls along the axis, from 0 (start) to 1 (end), clamped: a share of 0 on a
    /// log axis sits at its start.
    pub(crate) fn fraction(&self, v: f64) -> f64 {
        let f = match *self {
            Scale::Linear { max, .. } => v / max,
            Scale::Log { lo, hi } => {
                if v <= lo {
                    0.0
                } else {
                    (v.log10() - lo.log10()) / (hi.log10() - lo.log10())
                }
            }
        };
        if f.is_finite() {
            f.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    /// The tick values, in order: multiples of the step on a linear axis; each power of ten on
    /// a log axis, with 2× and 5× between them when it spans at most two.
    pub(crate) fn ticks(&self) -> Vec<f64> {
        match *self {
            Scale::Linear { max, step } => (0..=100)
                .map(|i| f64::from(i) * step)
                .take_while(|v| *v <= max * (1.0 + 1e-9))
                .collect(),
            Scale::Log { lo, hi } => {
                let decades = (hi / lo).log10().round().max(0.0) as i32;
                let mut out = Vec::new();
                for d in 0..=decades {
                    let base = lo * 10f64.powi(d);
                    out.push(base);
                    if decades <= 2 && d < decades {
                        out.extend([2.0 * base, 5.0 * base]);
                    }
                }
                out
            }
        }
    }
}

/// `x` with the fewest decimals (at most 3) that show it exactly, or to 3 decimals.
pub(crate) fn trim(x: f64) -> String {
    for d in 0..3 {
        let s = format!("{x:.d$}");
        if s.parse::<f64>()
            .is_ok_and(|p| (p - x).abs() <= 1e-9 * x.abs().max(1.0))
        {
            return s;
        }
    }
    format!("{x:.3}")
}

/// A share as a tick label: `0.025` → `2.5%`.
pub(crate) fn percent_tick(share: f64) -> String {
    format!("{}%", trim(share * 100.0))
}

/// Byte ticks in the largest binary unit that keeps `max` at or above 1: the unit's name and
/// its size.
pub(crate) fn byte_unit(max: f64) -> (&'static str, f64) {
    [("GiB", 30), ("MiB", 20), ("KiB", 10)]
        .into_iter()
        .map(|(n, shift)| (n, (1u64 << shift) as f64))
        .find(|(_, size)| max >= *size)
        .unwrap_or(("B", 1.0))
}

/// Positions for marks wanted at `wanted` (any order), each kept at least `gap` from the
/// others by spreading close ones evenly around their mean, and kept within `[lo, hi]` when
/// there is room. Marks far apart stay where they are.
pub(crate) fn dodge(wanted: &[f64], gap: f64, lo: f64, hi: f64) -> Vec<f64> {
    let mut order: Vec<usize> = (0..wanted.len()).collect();
    order.sort_by(|a, b| wanted[*a].total_cmp(&wanted[*b]).then(a.cmp(b)));
    // Runs of marks set `gap` apart: (first position, members in order).
    let mut blocks: Vec<(f64, Vec<usize>)> = Vec::new();
    let place = |members: &[usize]| {
        let n = members.len() as f64;
        let mean = members.iter().map(|m| wanted[*m]).sum::<f64>() / n;
        let width = (n - 1.0) * gap;
        (mean - width / 2.0).min(hi - width).max(lo)
    };
    for i in order {
        blocks.push((place(&[i]), vec![i]));
        while blocks.len() >= 2 {
            let last = blocks.len() - 1;
            let prev_end = blocks[last - 1].0 + (blocks[last - 1].1.len() as f64 - 1.0) * gap;
            if blocks[last].0 - prev_end >= gap - 1e-9 {
                break;
            }
            if let Some((_, tail)) = blocks.pop()
                && let Some(prev) = blocks.last_mut()
            {
                prev.1.extend(tail);
                prev.0 = place(&prev.1);
            }
        }
    }
    let mut out = vec![0.0; wanted.len()];
    for (start, members) in blocks {
        for (j, m) in members.into_iter().enumerate() {
            out[m] = start + j as f64 * gap;
        }
    }
    out
}
