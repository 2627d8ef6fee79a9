//! The on-disk record: `magic, len, seq, crc, payload`, all little-endian; the CRC-32 covers
//! `len`, `seq` and the payload. Scanning a segment finds every intact record and steps over
//! damage (a torn tail, a flipped bit, a zeroed length) by searching for the next record whose
//! checksum holds.

/// Marks the start of a record; the search for the next record after damage looks for it.
pub(crate) const MAGIC: [u8; 4] = *b"WSP1";

/// Bytes before the payload.
pub(crate) const HEADER: usize = 4 + 4 + 8 + 4;

/// A record's bytes as written.
pub(crate) fn encode(seq: u64, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&checksum(len, seq, payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn checksum(len: u32, seq: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len.to_le_bytes());
    h.update(&seq.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// One intact record found in a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    pub seq: u64,
    /// Where its header starts.
    pub offset: u64,
    /// Its payload length.
    pub len: u32,
}

/// What a scan of one segment found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub records: Vec<Found>,
    /// Damaged stretches stepped over (each may have held one or more records).
    pub damaged: u64,
    /// Where the last intact record ends: appending may go on from here.
    pub valid_end: u64,
    /// Bytes after `valid_end` that hold no intact record (a write cut short).
    pub torn: bool,
}

/// The record at `pos`, if one starts there and its checksum holds.
fn record_at(bytes: &[u8], pos: usize, max_len: u32) -> Option<Found> {
    let header = bytes.get(pos..pos + HEADER)?;
    if header[..4] != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(header.get(4..8)?.try_into().ok()?);
    let seq = u64::from_le_bytes(header.get(8..16)?.try_into().ok()?);
    let crc = u32::from_le_bytes(header.get(16..20)?.try_into().ok()?);
    if len > max_len {
        return None;
    }
    let payload = bytes.get(pos + HEADER..pos + HEADER + len as usize)?;
    (checksum(len, seq, payload) == crc).then_some(Found {
        seq,
        offset: pos as u64,
        len,
    })
}

/// The next intact record starting after `pos`.
fn resync(bytes: &[u8], pos: usize, max_len: u32) -> Option<Found> {
    let mut from = pos + 1;
    while let Some(i) = bytes
        .get(from..)
        .and_then(|rest| rest.windows(4).position(|w| w == MAGIC))
    {
        if let Some(f) = record_at(bytes, from + i, max_len) {
            return Some(f);
        }
        from += i + 1;
    }
    None
}

/// Every intact record of a segment's bytes, in file order.
pub(crate) fn scan(bytes: &[u8], max_len: u32) -> Scan {
    let mut out = Scan::default();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let found = match record_at(bytes, pos, max_len) {
            Some(f) => Some(f),
            None => {
                let next = resync(bytes, pos, max_len);
                if next.is_some() {
                    out.damaged += 1;
                } else {
                    out.torn = true;
                }
                next
            }
        };
        let Some(f) = found else { break };
        out.records.push(f);
        pos = f.offset as usize + HEADER + f.len as usize;
        out.valid_end = pos as u64;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(n: u64) -> Vec<u8> {
        (0..n)
            .flat_map(|s| encode(s, format!("payload {s}").as_bytes()))
            .collect()
    }

    fn seqs(s: &Scan) -> Vec<u64> {
        s.records.iter().map(|f| f.seq).collect()
    }

    #[test]
    fn reads_back_every_record() {
        let bytes = log(5);
        let s = scan(&bytes, 1 << 20);
        assert_eq!(seqs(&s), [0, 1, 2, 3, 4]);
        assert_eq!(
            (s.damaged, s.torn, s.valid_end),
            (0, false, bytes.len() as u64)
        );
    }

    #[test]
    fn a_torn_tail_is_cut_off() {
        let bytes = log(5);
        let cut = &bytes[..bytes.len() - 3];
        let s = scan(cut, 1 << 20);
        assert_eq!(seqs(&s), [0, 1, 2, 3]);
        assert!(s.torn);
        assert_eq!(s.damaged, 0);
        let four = log(4).len() as u64;
        assert_eq!(s.valid_end, four);
    }

    #[test]
    fn a_flipped_bit_loses_only_its_record() {
        let mut bytes = log(5);
        let third = log(2).len() + HEADER + 3;
        bytes[third] ^= 0x10;
        let s = scan(&bytes, 1 << 20);
        assert_eq!(seqs(&s), [0, 1, 3, 4]);
        assert_eq!((s.damaged, s.torn), (1, false));
    }

    #[test]
    fn a_zeroed_length_or_header_is_stepped_over() {
        for at in [4, 0, 8] {
            let mut bytes = log(5);
            let second = log(1).len();
            bytes[second + at..second + at + 4].fill(0);
            let s = scan(&bytes, 1 << 20);
            assert_eq!(seqs(&s), [0, 2, 3, 4], "zeroed at +{at}");
            assert_eq!(s.damaged, 1);
        }
    }

    #[test]
    fn garbage_and_empty_input_find_nothing() {
        assert_eq!(seqs(&scan(&[], 1 << 20)), Vec::<u64>::new());
        let s = scan(&[0x57; 100], 1 << 20);
        assert!(s.records.is_empty() && s.torn);
        assert_eq!(s.valid_end, 0);
    }
}
