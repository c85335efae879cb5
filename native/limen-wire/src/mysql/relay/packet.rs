//! One upstream packet through the relay: classify, rewrite, renumber.
use crate::error::{Error, ErrorKind};
use crate::mysql::binary::BinaryValue;
use crate::mysql::caps::{CLIENT_DEPRECATE_EOF, SERVER_STATUS_CURSOR_EXISTS};
use crate::mysql::colplan::ColumnAction;
use crate::mysql::framing::{write_packet, Packet};
use crate::mysql::generic::{EofPacket, ErrPacket, OkPacket};
use crate::mysql::response::{Expect, Kind};
use crate::mysql::resultset::{resequence, Action, ColumnDefinition, Rewrite};

use super::{ContentMasker, Core, Phase, RelayEvent, MAX_COLUMNS, MAX_CURSORS, SECRET_NAME};

impl<M: ContentMasker> Core<M> {
    pub(super) fn on_packet(
        &mut self,
        p: &Packet<'_>,
        out: &mut Vec<u8>,
        events: &mut Vec<RelayEvent>,
    ) -> Result<(), Error> {
        let payload = p.payload();
        let kind = self.tracker.on_packet(payload)?;
        if let Phase::Refused { err } = &self.phase {
            // The server's answer to the refused file: swallowed, the
            // client gets the refusal once the response is over.
            let err = err.clone();
            self.note_end(kind, payload, events)?;
            if self.tracker.is_done() {
                self.out_seq = write_packet(out, self.out_seq, &err);
                self.finish();
            }
            return Ok(());
        }
        match kind {
            Kind::LocalInfile => {
                let filename = payload.get(1..).unwrap_or_default().to_vec();
                self.infile_name.clone_from(&filename);
                events.push(RelayEvent::InfileRequest { filename });
                self.phase = Phase::InfileWait {
                    upstream_seq: p.last_seq().wrapping_add(1),
                };
                return Ok(());
            }
            Kind::Err => self.relay_err(p, out, events)?,
            Kind::ColumnCount(n) => {
                if n > MAX_COLUMNS {
                    return Err(Error::remote(
                        ErrorKind::InvalidValue,
                        p.offset(),
                        "column count",
                    ));
                }
                self.cols.clear();
                self.types.clear();
                self.forward(p, out)?;
            }
            Kind::ColumnDefinition => {
                let def = ColumnDefinition::try_parse(payload, self.caps)?;
                if matches!(self.expect, Expect::Query | Expect::Execute) {
                    let action = match &self.plan {
                        Some(plan) => plan.action(&def),
                        None => ColumnAction::Content,
                    };
                    self.cols.push(action);
                    self.types.push(def.column_type);
                }
                self.column_definition(&def, p, out)?;
            }
            Kind::TextRow => self.text_row(p, out)?,
            Kind::BinaryRow => self.binary_row(p, out)?,
            Kind::PrepareOk {
                statement_id,
                columns,
                params,
            } => {
                events.push(RelayEvent::PrepareOk {
                    statement_id,
                    params,
                    columns,
                });
                self.forward(p, out)?;
            }
            Kind::Ok { .. } | Kind::RowsEnd { .. } | Kind::ColumnsEnd => {
                self.note_end(kind, payload, events)?;
                self.forward(p, out)?;
            }
            Kind::ParamDefinition | Kind::ParamsEnd | Kind::Raw => self.forward(p, out)?,
        }
        if self.tracker.is_done() {
            self.finish();
        }
        Ok(())
    }

    fn finish(&mut self) {
        self.phase = Phase::Idle;
        self.plan = None;
        self.secret_statement = false;
    }

    /// A column definition with its names masked (see the module docs):
    /// forwarded as it came when nothing changed.
    fn column_definition(
        &mut self,
        def: &ColumnDefinition<'_>,
        p: &Packet<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let rename = self.secret_statement && def.org_name.is_empty() && def.name != SECRET_NAME;
        if self.masker.is_none() && !rename {
            return self.forward(p, out);
        }
        if !rename {
            // Masked before by this masker (`names.rs`).
            match self.names.get(p.payload()) {
                Some(None) => return self.forward(p, out),
                Some(Some(masked)) => {
                    self.out_seq = write_packet(out, self.out_seq, masked);
                    return Ok(());
                }
                None => {}
            }
        }
        let mut names: [Vec<u8>; 5] = Default::default();
        let fields = [def.schema, def.table, def.org_table, def.name, def.org_name];
        let mut changed = false;
        for (slot, field) in names.iter_mut().zip(fields) {
            if let Some(m) = &self.masker {
                m.mask_into(field, slot);
            } else {
                slot.extend_from_slice(field);
            }
            changed |= slot.as_slice() != field;
        }
        if rename {
            names[3] = SECRET_NAME.to_vec();
            changed = true;
        }
        if !changed {
            if !rename {
                self.names.put(p.payload(), None);
            }
            return self.forward(p, out);
        }
        let [schema, table, org_table, name, org_name] = &names;
        let masked = ColumnDefinition {
            schema,
            table,
            org_table,
            name,
            org_name,
            ..*def
        };
        let mut payload = Vec::with_capacity(p.payload().len() + 32);
        masked.encode(&mut payload);
        if payload.len() > self.max_packet_size {
            return Err(Error::local(
                ErrorKind::MessageTooLarge,
                "column name masking",
            ));
        }
        if !rename {
            self.names.put(p.payload(), Some(&payload));
        }
        self.out_seq = write_packet(out, self.out_seq, &payload);
        Ok(())
    }

    fn forward(&mut self, p: &Packet<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
        self.out_seq = resequence(p.raw(), self.out_seq, out)?;
        Ok(())
    }

    /// Status and event of an OK / EOF; remembers a cursor's columns.
    fn note_end(
        &mut self,
        kind: Kind,
        payload: &[u8],
        events: &mut Vec<RelayEvent>,
    ) -> Result<(), Error> {
        let deprecate_eof = self.caps & CLIENT_DEPRECATE_EOF != 0;
        let event = match kind {
            Kind::Ok { .. } => ok_fields(payload, self.caps)?,
            Kind::RowsEnd { .. } if deprecate_eof => ok_fields(payload, self.caps)?,
            Kind::RowsEnd { .. } | Kind::ColumnsEnd => {
                let eof = EofPacket::try_parse(payload)?;
                (eof.status, 0, 0, eof.warnings)
            }
            Kind::Err => {
                let (code, sql_state, message) = err_fields(payload)?;
                events.push(RelayEvent::Err {
                    code,
                    sql_state,
                    message: message.to_vec(),
                });
                return Ok(());
            }
            _ => return Ok(()),
        };
        let (status, affected_rows, last_insert_id, warnings) = event;
        self.status = status;
        let cursor = status & SERVER_STATUS_CURSOR_EXISTS != 0;
        if cursor && self.expect == Expect::Execute && self.tracker.is_done() {
            if let Some(id) = self.statement {
                if self.cursors.len() < MAX_CURSORS || self.cursors.contains_key(&id) {
                    self.cursors
                        .insert(id, (self.cols.clone(), self.types.clone()));
                }
            }
        }
        if kind != Kind::ColumnsEnd {
            events.push(RelayEvent::Ok {
                status,
                affected_rows,
                last_insert_id,
                warnings,
            });
        }
        Ok(())
    }

    /// An ERR: its message masked by content, re-framed when that changed it.
    fn relay_err(
        &mut self,
        p: &Packet<'_>,
        out: &mut Vec<u8>,
        events: &mut Vec<RelayEvent>,
    ) -> Result<(), Error> {
        let (code, sql_state, message) = err_fields(p.payload())?;
        let mut masked = Vec::new();
        if let Some(m) = &self.masker {
            m.mask_into(message, &mut masked);
        }
        if self.masker.is_none() || masked == message {
            events.push(RelayEvent::Err {
                code,
                sql_state,
                message: message.to_vec(),
            });
            return self.forward(p, out);
        }
        let mut payload = Vec::with_capacity(masked.len() + 9);
        let state: Option<[u8; 5]> = sql_state.as_slice().try_into().ok();
        ErrPacket::Error {
            code,
            sql_state: state,
            message: &masked,
        }
        .encode(&mut payload);
        if payload.len() > self.max_packet_size {
            return Err(Error::local(ErrorKind::MessageTooLarge, "ERR masking"));
        }
        self.out_seq = write_packet(out, self.out_seq, &payload);
        events.push(RelayEvent::Err {
            code,
            sql_state,
            message: masked,
        });
        Ok(())
    }

    fn text_row(&mut self, p: &Packet<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
        let columns = usize::try_from(self.tracker.columns()).unwrap_or(usize::MAX);
        let (cols, masker, counter) = (&self.cols, self.masker.as_ref(), &mut self.masked_values);
        let (rewrite, next) = self.text.try_rewrite(
            p.payload(),
            columns,
            self.out_seq,
            out,
            |i, value, scratch| {
                let Some(v) = value else {
                    return Action::Keep;
                };
                apply(cols.get(i), v, masker, counter, scratch)
            },
        )?;
        self.after_rewrite(rewrite, next, p, out)
    }

    fn binary_row(&mut self, p: &Packet<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.types.is_empty() {
            return Err(Error::remote(
                ErrorKind::UnexpectedMessage,
                p.offset(),
                "binary row",
            ));
        }
        let (cols, masker, counter) = (&self.cols, self.masker.as_ref(), &mut self.masked_values);
        let (rewrite, next) = self.binary.try_rewrite(
            p.payload(),
            &self.types,
            self.out_seq,
            out,
            |i, value, scratch| match value {
                BinaryValue::Str(v) => apply(cols.get(i), v, masker, counter, scratch),
                BinaryValue::Fixed(_) | BinaryValue::Temporal(_) => match cols.get(i) {
                    Some(ColumnAction::Replace(_) | ColumnAction::Null) => {
                        *counter += 1;
                        Action::Null
                    }
                    _ => Action::Keep,
                },
                BinaryValue::Null => Action::Keep,
            },
        )?;
        self.after_rewrite(rewrite, next, p, out)
    }

    fn after_rewrite(
        &mut self,
        rewrite: Rewrite,
        next: u8,
        p: &Packet<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        match rewrite {
            Rewrite::Changed => {
                self.out_seq = next;
                Ok(())
            }
            Rewrite::Unchanged => self.forward(p, out),
        }
    }
}

/// What one non-NULL string value becomes.
fn apply<M: ContentMasker>(
    action: Option<&ColumnAction>,
    value: &[u8],
    masker: Option<&M>,
    counter: &mut u64,
    scratch: &mut Vec<u8>,
) -> Action {
    match action {
        Some(ColumnAction::Replace(rep)) => {
            *counter += 1;
            scratch.extend_from_slice(rep);
            Action::Replace
        }
        Some(ColumnAction::Null) => {
            *counter += 1;
            Action::Null
        }
        Some(ColumnAction::Content) | None => match masker {
            Some(m) => {
                m.mask_into(value, scratch);
                Action::Replace
            }
            None => Action::Keep,
        },
    }
}

/// (status, affected rows, last insert id, warnings) of an OK payload.
fn ok_fields(payload: &[u8], caps: u64) -> Result<(u16, u64, u64, u16), Error> {
    let ok = OkPacket::try_parse(payload, caps)?;
    Ok((ok.status, ok.affected_rows, ok.last_insert_id, ok.warnings))
}

/// (code, SQLSTATE, message) of an ERR payload; a progress report (only
/// sent to clients that asked for them, never here) is a protocol error.
fn err_fields(payload: &[u8]) -> Result<(u16, Vec<u8>, &[u8]), Error> {
    match ErrPacket::try_parse(payload)? {
        ErrPacket::Error {
            code,
            sql_state,
            message,
        } => Ok((
            code,
            sql_state.map(|s| s.to_vec()).unwrap_or_default(),
            message,
        )),
        ErrPacket::Progress { .. } => Err(Error::remote(
            ErrorKind::UnexpectedMessage,
            0,
            "ERR progress report",
        )),
    }
}
