//! [`try_verify`]: every check to the end of a log, and its class.

use std::io::Read;

use crate::error::{Problem, Result};
use crate::format::Header;
use crate::keys::Key32;

use super::{Ending, LogReader, ReaderLimits};

/// Verification outcome class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Every record checks, the trailer matches and its signature holds.
    Intact,
    /// Cut short (crash or still being written); every complete record checks.
    Truncated,
    /// Something was changed, removed, added or signed by someone else.
    Tampered,
}

/// What [`try_verify`] found.
#[derive(Clone, Debug)]
pub struct Report {
    pub status: Status,
    /// Sequence number of the first record that cannot be trusted.
    pub first_bad: Option<u64>,
    /// Byte offset of the problem.
    pub offset: Option<u64>,
    pub problem: Option<Problem>,
    /// Frames, records and payload bytes that checked.
    pub frames: u64,
    pub records: u64,
    pub payload_bytes: u64,
    pub header: Option<Header>,
    /// True when the trailer was checked against a caller-supplied key (not
    /// only the key the log names itself).
    pub authenticated: bool,
}

/// Read a log to its end and classify it. `Err` only for I/O errors.
pub fn try_verify<R: Read>(
    src: R,
    trusted: Option<&Key32>,
    limits: &ReaderLimits,
) -> Result<Report> {
    let mut reader = match LogReader::try_open(src, trusted, limits) {
        Ok(r) => r,
        Err(e) => {
            let Some(p) = e.problem_ref().cloned() else {
                return Err(e);
            };
            let status = if p.is_truncation() {
                Status::Truncated
            } else {
                Status::Tampered
            };
            return Ok(Report {
                status,
                first_bad: None,
                offset: e.offset(),
                problem: Some(p),
                frames: 0,
                records: 0,
                payload_bytes: 0,
                header: None,
                authenticated: false,
            });
        }
    };
    let result = loop {
        match reader.try_next_frame() {
            Ok(Some(_)) => continue,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    let (frames, records, payload_bytes) = reader.counts();
    let mut report = Report {
        status: Status::Intact,
        first_bad: None,
        offset: None,
        problem: None,
        frames,
        records,
        payload_bytes,
        header: Some(reader.header().clone()),
        authenticated: false,
    };
    match result {
        Err(e) => {
            let Some(p) = e.problem_ref().cloned() else {
                return Err(e);
            };
            report.status = Status::Tampered;
            report.first_bad = e.seq();
            report.offset = e.offset();
            report.problem = Some(p);
        }
        Ok(()) => match reader.ending() {
            Some(Ending::Truncated { torn_bytes }) => {
                report.status = Status::Truncated;
                report.problem = Some(Problem::Truncated { torn_bytes });
            }
            _ => report.authenticated = trusted.is_some(),
        },
    }
    Ok(report)
}
