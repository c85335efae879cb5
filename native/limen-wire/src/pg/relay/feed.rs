//! [`ServerRelay::try_feed`]: upstream bytes in, bytes for the client and
//! events out (see the module docs of [`crate::pg::relay`]).

use crate::error::{Error, ErrorKind};
use crate::pg::backend::encode_fields;
use crate::pg::backend::{tag, BackendMessage, FieldDescription, Fields, RowDescription};
use crate::pg::outplan::{rewrite_copy_row, scrub_fields, CopyFormat};
use crate::pg::planbook::quotes_values;

use super::rows::{contains, relay_row};
use super::{ContentMasker, Plan, RelayEvent, ServerRelay};

impl<M: ContentMasker> ServerRelay<M> {
    /// Feeds one chunk from the upstream (at most `limits.max_chunk`),
    /// appends what the client must get to `out`, and returns the events.
    /// A remote error means the upstream broke the protocol: close the
    /// session. On error, `out` may hold a prefix of complete messages.
    pub fn try_feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<Vec<RelayEvent>, Error> {
        self.decoder.receive_data(chunk)?;
        let mut events = Vec::new();
        loop {
            // Split borrows: the frame borrows the decoder only.
            let ServerRelay {
                decoder,
                masker,
                plan,
                plan_active,
                planned,
                rewriter,
                capture_rows,
                masked_rows,
                copy,
                ..
            } = self;
            let Some(frame) = decoder.next_frame()? else {
                break;
            };
            let t = frame.tag().unwrap_or(0);
            let raw = frame.raw();
            let body = frame.body();
            let at = frame.body_offset();
            if t == tag::DATA_ROW && !*capture_rows {
                let pass = if *planned {
                    !*plan_active
                } else {
                    masker.is_none()
                };
                if pass {
                    out.extend_from_slice(raw);
                } else {
                    let default = if *planned { &Plan::Keep } else { &Plan::Mask };
                    let changed = relay_row(rewriter, plan, default, masker.as_ref(), body, out)
                        .map_err(|e| e.shifted(at))?;
                    if changed {
                        *masked_rows += 1;
                    } else {
                        out.extend_from_slice(raw);
                    }
                }
                continue;
            }
            if t == tag::COPY_DATA {
                let mut rewritten = None;
                if let Some((format, masks, header)) = copy.as_mut() {
                    if *header {
                        *header = false;
                    } else {
                        let mut row = Vec::with_capacity(body.len() + 32);
                        if rewrite_copy_row(*format, masks, body, &mut row) {
                            *masked_rows += 1;
                            if *format == CopyFormat::Binary {
                                continue; // dropped: cannot be masked exactly
                            }
                            rewritten = Some(row);
                        }
                    }
                }
                let payload = rewritten.as_deref().unwrap_or(body);
                if masker.is_none() && rewritten.is_none() {
                    out.extend_from_slice(raw);
                    continue;
                }
                let start = out.len();
                out.push(tag::COPY_DATA);
                out.extend_from_slice(&[0; 4]);
                match masker.as_ref() {
                    Some(m) => {
                        m.mask_into(payload, out);
                    }
                    None => out.extend_from_slice(payload),
                }
                let len = i32::try_from(out.len() - start - 1).map_err(|_| {
                    out.truncate(start);
                    Error::local(ErrorKind::MessageTooLarge, "CopyData masking")
                })?;
                out[start + 1..start + 5].copy_from_slice(&len.to_be_bytes());
                continue;
            }
            let raw = raw.to_vec();
            let msg = BackendMessage::try_parse(t, &raw[raw.len() - body.len()..])
                .map_err(|e| e.shifted(at))?;
            self.handle(msg, &raw, out, &mut events);
        }
        Ok(events)
    }

    fn handle(
        &mut self,
        msg: BackendMessage<'_>,
        raw: &[u8],
        out: &mut Vec<u8>,
        events: &mut Vec<RelayEvent>,
    ) {
        match msg {
            BackendMessage::DataRow(row) => events.push(RelayEvent::DataRow(
                row.values.iter().map(|v| v.map(<[u8]>::to_vec)).collect(),
            )),
            BackendMessage::Authentication(_) => {
                let body = raw.get(5..).unwrap_or_default();
                events.push(RelayEvent::Authentication(body.to_vec()));
            }
            BackendMessage::BackendKeyData(k) => events.push(RelayEvent::BackendKeyData {
                process_id: k.process_id,
                secret_key: k.secret_key.to_vec(),
            }),
            BackendMessage::NegotiateProtocolVersion(_) => {
                out.extend_from_slice(raw);
                events.push(RelayEvent::NegotiateProtocolVersion);
            }
            BackendMessage::RowDescription(rd) => {
                let hidden = self.pop_hidden();
                self.plan = self.plan_for(&rd);
                self.plan_active = self.plan.iter().any(|p| *p != Plan::Keep);
                self.planned = true;
                let replaced = self
                    .plan
                    .iter()
                    .filter(|p| matches!(p, Plan::Replace(_) | Plan::Null))
                    .count();
                if !hidden {
                    self.names_masked(&rd, raw, out);
                }
                events.push(RelayEvent::RowDescription {
                    columns: rd.len(),
                    replaced,
                });
            }
            BackendMessage::NoData => {
                self.plan.clear();
                self.plan_active = false;
                self.planned = true;
                if !self.pop_hidden() {
                    out.extend_from_slice(raw);
                }
            }
            BackendMessage::CommandComplete(c) => {
                self.statement_done();
                self.reset_plan();
                out.extend_from_slice(raw);
                events.push(RelayEvent::CommandComplete(c.tag.to_vec()));
            }
            BackendMessage::ErrorResponse(f) => {
                let scrub = self.scrubbing();
                self.plans.interrupted();
                self.current = None;
                self.copy = None;
                let text = f.message().unwrap_or_default();
                let hit = self
                    .replace_errors
                    .iter()
                    .position(|(_, marker, _)| contains(text, marker));
                match hit {
                    Some(i) => {
                        let (_, _, rep) = self.replace_errors.remove(i);
                        out.extend_from_slice(&rep);
                        events.push(RelayEvent::ReplacedError);
                    }
                    None if scrub && quotes_values(f.code()) => {
                        let kept = scrub_fields(f.iter());
                        // Fields of a parsed message always fit one message.
                        if encode_fields(tag::ERROR_RESPONSE, &kept, out).is_err() {
                            out.extend_from_slice(raw);
                        }
                        events.push(RelayEvent::Error(
                            kept.iter().map(|(c, v)| (*c, v.to_vec())).collect(),
                        ));
                    }
                    None => {
                        let kept = self.content_masked(tag::ERROR_RESPONSE, &f, raw, out);
                        events.push(RelayEvent::Error(kept));
                    }
                }
            }
            BackendMessage::NoticeResponse(f) if self.scrubbing() && quotes_values(f.code()) => {
                let kept = scrub_fields(f.iter());
                if encode_fields(tag::NOTICE_RESPONSE, &kept, out).is_err() {
                    out.extend_from_slice(raw);
                }
                events.push(RelayEvent::Notice(
                    kept.iter().map(|(c, v)| (*c, v.to_vec())).collect(),
                ));
            }
            BackendMessage::NoticeResponse(f) => {
                let kept = self.content_masked(tag::NOTICE_RESPONSE, &f, raw, out);
                events.push(RelayEvent::Notice(kept));
            }
            BackendMessage::ReadyForQuery(st) => {
                // This cycle is over: what it registered and did not use
                // (Describes skipped after an error) goes.
                let done = self.readies;
                self.replace_errors.retain(|(cycle, _, _)| *cycle > done);
                self.describes.retain(|(cycle, _, _)| *cycle > done);
                self.plans.end_cycle(done);
                self.current = None;
                self.copy = None;
                self.readies += 1;
                self.reset_plan();
                out.extend_from_slice(raw);
                events.push(RelayEvent::ReadyForQuery(st));
            }
            BackendMessage::ParameterStatus(p) => {
                out.extend_from_slice(raw);
                events.push(RelayEvent::ParameterStatus {
                    name: p.name.to_vec(),
                    value: p.value.to_vec(),
                });
            }
            BackendMessage::CopyInResponse(c) => {
                out.extend_from_slice(raw);
                events.push(RelayEvent::CopyIn(c.format));
            }
            BackendMessage::CopyOutResponse(c) => {
                let plan = self.plans.active(self.readies);
                self.copy = plan.filter(|p| p.masks()).map(|p| {
                    let masks = p.resolve(c.column_formats.len(), None);
                    let (format, header) = match p.copy {
                        _ if c.format == 1 => (CopyFormat::Binary, false),
                        Some((format, header)) => (format, header),
                        None => (CopyFormat::Text { delimiter: b'\t' }, false),
                    };
                    (format, masks, header)
                });
                out.extend_from_slice(raw);
                events.push(RelayEvent::CopyOut(c.format));
            }
            BackendMessage::CopyBothResponse(c) => {
                out.extend_from_slice(raw);
                events.push(RelayEvent::CopyBoth(c.format));
            }
            BackendMessage::EmptyQueryResponse => {
                self.statement_done();
                out.extend_from_slice(raw);
            }
            BackendMessage::PortalSuspended => {
                self.plans.interrupted();
                self.current = None;
                out.extend_from_slice(raw);
            }
            _ => out.extend_from_slice(raw),
        }
    }
}

impl<M: ContentMasker> ServerRelay<M> {
    /// Forwards an ErrorResponse or NoticeResponse (`t`) with every field
    /// that can quote data (message, detail, hint, context, names; not
    /// severity, code, position or source location) masked by content:
    /// `invalid input syntax for type integer: "AKIA…"` quotes a row value.
    /// Returns the fields as forwarded (for the recording).
    /// A RowDescription with its column names masked by content (an
    /// alias is the bot's text: `SELECT 1 AS "AKIA…"` would carry a key
    /// to the recording), forwarded as it came when nothing changed.
    fn names_masked(&self, rd: &RowDescription<'_>, raw: &[u8], out: &mut Vec<u8>) {
        let Some(m) = self.masker.as_ref() else {
            out.extend_from_slice(raw);
            return;
        };
        let mut names: Vec<Vec<u8>> = Vec::with_capacity(rd.len());
        let mut changed = false;
        for f in rd.fields() {
            let mut masked = Vec::with_capacity(f.name.len());
            if m.mask_into(f.name, &mut masked) > 0 && !masked.contains(&0) {
                changed = true;
                names.push(masked);
            } else {
                names.push(f.name.to_vec());
            }
        }
        if changed {
            let fields: Vec<FieldDescription<'_>> = rd
                .fields()
                .zip(&names)
                .map(|(f, name)| FieldDescription { name, ..f })
                .collect();
            let mark = out.len();
            // A few masks longer than a parsed message: it fits; if not,
            // every column is named by the bare marker (never the raw name).
            if RowDescription::encode_fields(&fields, out).is_ok() {
                return;
            }
            out.truncate(mark);
            let short: Vec<FieldDescription<'_>> = rd
                .fields()
                .map(|f| FieldDescription {
                    name: b"[MASKED]",
                    ..f
                })
                .collect();
            if RowDescription::encode_fields(&short, out).is_err() {
                out.truncate(mark);
            }
            return;
        }
        out.extend_from_slice(raw);
    }

    fn content_masked(
        &self,
        t: u8,
        f: &Fields<'_>,
        raw: &[u8],
        out: &mut Vec<u8>,
    ) -> Vec<(u8, Vec<u8>)> {
        let mut changed = false;
        let kept: Vec<(u8, Vec<u8>)> = f
            .iter()
            .map(|(code, value)| match self.masker.as_ref() {
                Some(m)
                    if !matches!(code, b'S' | b'V' | b'C' | b'P' | b'p' | b'F' | b'L' | b'R') =>
                {
                    let mut masked = Vec::with_capacity(value.len());
                    if m.mask_into(value, &mut masked) > 0 && !masked.contains(&0) {
                        changed = true;
                        (code, masked)
                    } else {
                        (code, value.to_vec())
                    }
                }
                _ => (code, value.to_vec()),
            })
            .collect();
        if changed {
            let refs: Vec<(u8, &[u8])> = kept.iter().map(|(c, v)| (*c, v.as_slice())).collect();
            // Fields of a parsed message (a few masks longer) fit one message.
            if encode_fields(t, &refs, out).is_ok() {
                return kept;
            }
            // Never the clear text: the message scrubbed (it always fits).
            let scrubbed = scrub_fields(f.iter());
            if encode_fields(t, &scrubbed, out).is_ok() {
                return scrubbed.iter().map(|(c, v)| (*c, v.to_vec())).collect();
            }
        }
        out.extend_from_slice(raw);
        f.iter().map(|(c, v)| (c, v.to_vec())).collect()
    }
}
