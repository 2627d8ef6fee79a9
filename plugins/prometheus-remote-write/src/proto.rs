//! The few protobuf messages of Prometheus remote write 1.0, encoded by hand:
//!
//! ```proto
//! message WriteRequest { repeated TimeSeries timeseries = 1; }
//! message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//! message Label        { string name = 1; string value = 2; }
//! message Sample       { double value = 1; int64 timestamp = 2; }  // milliseconds
//! ```

/// One series: its labels (with `__name__`), sorted by name, and its samples.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub labels: Vec<(String, String)>,
    pub samples: Vec<(f64, i64)>,
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A length-delimited field.
fn bytes_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    varint(out, field << 3 | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// The encoded `WriteRequest`.
pub(crate) fn write_request(series: &[Series]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in series {
        let mut ts = Vec::new();
        for (name, value) in &s.labels {
            let mut label = Vec::new();
            bytes_field(&mut label, 1, name.as_bytes());
            bytes_field(&mut label, 2, value.as_bytes());
            bytes_field(&mut ts, 1, &label);
        }
        for (value, timestamp) in &s.samples {
            let mut sample = Vec::new();
            varint(&mut sample, 1 << 3 | 1);
            sample.extend_from_slice(&value.to_le_bytes());
            varint(&mut sample, 2 << 3);
            varint(&mut sample, *timestamp as u64);
            bytes_field(&mut ts, 2, &sample);
        }
        bytes_field(&mut out, 1, &ts);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_remote_write_layout() {
        let s = Series {
            labels: vec![("__name__".into(), "up".into())],
            samples: vec![(1.0, 1000)],
        };
        let got = write_request(&[s]);
        let want: Vec<u8> = [
            vec![0x0a, 0x1e], // timeseries, 30 bytes
            vec![0x0a, 0x0e, 0x0a, 0x08],
            b"__name__".to_vec(),
            vec![0x12, 0x02],
            b"up".to_vec(),
            vec![0x12, 0x0c, 0x09], // samples, 12 bytes; value (fixed64)
            1.0f64.to_le_bytes().to_vec(),
            vec![0x10, 0xe8, 0x07], // timestamp 1000
        ]
        .concat();
        assert_eq!(got, want);
    }
}
