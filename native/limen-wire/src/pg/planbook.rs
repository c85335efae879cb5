//! The relay's book of output plans ([`OutputPlan`]): which plan the
//! result being streamed is masked by. A simple query's statements take
//! the plans registered for their cycle, in order (one per statement; the
//! next one at each CommandComplete or EmptyQueryResponse); an Execute
//! takes its portal's plan, which the portal took from its prepared
//! statement at Bind, and which the Describe sent before the Execute
//! carries.
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::pg::outplan::{OutputPlan, GENERIC_MASK};

/// Prepared statements and portals with a plan, at most; past it, a
/// statement or portal without one masks every column (fail closed).
const MAX_PLANS: usize = 65_536;

/// The answer of a Describe of a portal: the portal's plan, if any.
#[derive(Clone, Debug)]
pub(crate) struct Described(pub(crate) Option<Arc<OutputPlan>>);

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct PlanBook {
    /// Plans of a simple query's statements, per cycle.
    query: VecDeque<(u64, VecDeque<Option<Arc<OutputPlan>>>)>,
    statements: HashMap<Vec<u8>, Arc<OutputPlan>>,
    portals: HashMap<Vec<u8>, Arc<OutputPlan>>,
    /// A plan could not be kept: portals without one mask every column.
    lost: bool,
    /// The plan of the Execute whose results stream now.
    current: Option<Arc<OutputPlan>>,
    /// The results stream for an Execute (not a simple query's statement).
    in_execute: bool,
}

impl PlanBook {
    pub(crate) fn plan_query(&mut self, cycle: u64, plans: Vec<Option<Arc<OutputPlan>>>) {
        self.query.push_back((cycle, plans.into()));
    }

    pub(crate) fn plan_statement(&mut self, name: &[u8], plan: Option<Arc<OutputPlan>>) {
        match plan {
            Some(p) => insert_capped(&mut self.statements, &mut self.lost, name, p),
            None => {
                self.statements.remove(name);
            }
        }
    }

    pub(crate) fn plan_portal(&mut self, portal: &[u8], plan: Option<Arc<OutputPlan>>) {
        match plan {
            Some(p) => insert_capped(&mut self.portals, &mut self.lost, portal, p),
            None => {
                self.portals.remove(portal);
            }
        }
    }

    pub(crate) fn note_bind(&mut self, portal: &[u8], statement: &[u8]) {
        match self.statements.get(statement).cloned() {
            Some(p) => insert_capped(&mut self.portals, &mut self.lost, portal, p),
            None => {
                self.portals.remove(portal);
            }
        }
    }

    /// What a Describe of `portal` carries.
    pub(crate) fn describe(&self, portal: &[u8]) -> Described {
        Described(match self.portals.get(portal) {
            Some(p) => Some(Arc::clone(p)),
            None if self.lost => Some(Arc::new(OutputPlan {
                all: Some(GENERIC_MASK.to_vec()),
                ..OutputPlan::default()
            })),
            None => None,
        })
    }

    /// A RowDescription or NoData arrived, answering a Describe of a portal
    /// (`Some`), of a statement or none (`None`, a simple query's).
    pub(crate) fn described(&mut self, answered: Option<Described>) {
        if let Some(Described(plan)) = answered {
            self.current = plan;
            self.in_execute = true;
        }
    }

    /// The plan of the simple query's statement being answered in cycle
    /// `readies`.
    fn query_plan(&self, readies: u64) -> Option<Arc<OutputPlan>> {
        match self.query.front() {
            Some((cycle, plans)) if *cycle == readies => plans.front().cloned().flatten(),
            _ => None,
        }
    }

    /// The plan of the result streaming now.
    pub(crate) fn active(&self, readies: u64) -> Option<Arc<OutputPlan>> {
        if self.in_execute {
            self.current.clone()
        } else {
            self.query_plan(readies)
        }
    }

    /// A statement's results are over (CommandComplete, EmptyQueryResponse).
    pub(crate) fn statement_done(&mut self, readies: u64) {
        if !self.in_execute {
            if let Some((cycle, plans)) = self.query.front_mut() {
                if *cycle == readies {
                    plans.pop_front();
                }
            }
        }
        self.interrupted();
    }

    /// An Execute's results stop (ErrorResponse, PortalSuspended).
    pub(crate) fn interrupted(&mut self) {
        self.in_execute = false;
        self.current = None;
    }

    /// Cycle `done` is over: its plans go.
    pub(crate) fn end_cycle(&mut self, done: u64) {
        self.query.retain(|(cycle, _)| *cycle > done);
        self.interrupted();
    }
}

fn insert_capped(
    map: &mut HashMap<Vec<u8>, Arc<OutputPlan>>,
    lost: &mut bool,
    name: &[u8],
    plan: Arc<OutputPlan>,
) {
    if map.len() >= MAX_PLANS && !map.contains_key(name) {
        *lost = true;
        return;
    }
    map.insert(name.to_vec(), plan);
}

/// Whether an error or notice of this SQLSTATE may quote a value: all but
/// syntax and access errors (42), transaction state (25, 40), operator
/// intervention (57), resources (53), connection (08) and unsupported
/// features (0A), whose texts name objects, not values.
pub(crate) fn quotes_values(code: Option<&[u8]>) -> bool {
    !matches!(
        code.and_then(|c| c.get(..2)),
        Some(b"42" | b"25" | b"40" | b"57" | b"53" | b"08" | b"0A")
    )
}
