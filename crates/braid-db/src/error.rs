//! The storage layer's one error type. Callers care about three things: not found,
//! a uniqueness conflict (which constraint), and everything else.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; carries the constraint's name when the
    /// backend reports it, else the database's message.
    #[error("already exists ({0})")]
    Conflict(String),
    /// An identity already belongs to another customer.
    #[error("{kind} {value} already belongs to customer {customer}")]
    IdentityTaken {
        kind: String,
        value: String,
        customer: braid_core::CustomerId,
        /// The merge suggestion recorded for agents, when the claim came from a customer.
        suggestion: Option<braid_core::SuggestionId>,
    },
    /// The customer was merged into another (the live customer at the end of the chain).
    #[error("the customer was merged into {into}")]
    Merged { into: braid_core::CustomerId },
    /// A customer's rows moved (a merge or its undo) between a read and the lock that
    /// should have guarded it: what was read is stale. Placement retries; a request
    /// answers `409` to retry.
    #[error("the customer was merged or unmerged meanwhile")]
    Moved,
    /// The request cannot be carried out in the data's present state (a merge undone
    /// already, an undo window passed); the text says why.
    #[error("{0}")]
    Refused(String),
    /// A reference to a row that does not exist (a foreign key refused the write).
    #[error("refers to something that does not exist ({0})")]
    MissingReference(String),
    /// The change would leave no active admin.
    #[error("this would leave no active admin")]
    LastAdmin,
    /// The write would take `field` past its cap of `max` items.
    #[error("{field} is limited to {max}")]
    OverLimit { field: &'static str, max: usize },
    /// A value breaks a rule only stored data can check (an attribute key nobody defined,
    /// a value not of its definition's kind); `field` names it as the caller sent it.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The change would leave stored data breaking a rule (a list option some customers'
    /// values still hold); `field` names what the caller must change.
    #[error("{field}: {message}")]
    InUse { field: &'static str, message: String },
    /// The ticket is closed, which is final.
    #[error("the ticket is closed")]
    TicketClosed,
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("no database connection available: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Query(DieselError),
    #[error("the database task was cancelled")]
    Cancelled,
}

impl From<DieselError> for DbError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => DbError::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                DbError::Conflict(info.constraint_name().unwrap_or(info.message()).to_owned())
            }
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                DbError::MissingReference(info.constraint_name().unwrap_or(info.message()).to_owned())
            }
            other => DbError::Query(other),
        }
    }
}

impl From<braid_core::InvalidValue> for DbError {
    fn from(error: braid_core::InvalidValue) -> Self {
        DbError::Corrupt(error.to_string())
    }
}

impl From<serde_json::Error> for DbError {
    fn from(error: serde_json::Error) -> Self {
        DbError::Corrupt(error.to_string())
    }
}

impl DbError {
    /// [`DbError::Invalid`] from a core check, naming `field` rather than the check's own.
    pub fn invalid(field: impl Into<String>, error: braid_core::InvalidValue) -> Self {
        DbError::Invalid { field: field.into(), message: error.message }
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, DbError::Conflict(_))
    }
}
